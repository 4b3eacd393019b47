/** Named facts about this installation that outlive a process (the issuer the database was set up with). */
export interface SettingRepository {
  get(name: string): Promise<string | undefined>;
  /** Creates or replaces; several instances writing the same value at once is harmless. */
  set(name: string, value: string): Promise<void>;
}
