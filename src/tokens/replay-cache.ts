/**
 * Remembers single-use identifiers (RFC 7523 §3 item 7 assertion jti, RFC 9449 §11.1 DPoP proof jti)
 * until they expire, as measured by the service clock (never by the database's or Redis's own). Shared by every instance (database, or Redis when REDIS_URL is set), so a
 * replay to another instance is caught too; the first use wins even when copies race.
 */
export interface ReplayCache {
  /** True on first use; false when the key was already used and has not expired. */
  useOnce(key: string, expiresAt: Date): Promise<boolean>;
}

/**
 * How long an entry outlives the last instant its value could be accepted: instances' clocks differ
 * a little, and one running behind would still accept the value after a peer's entry expired.
 */
export const REPLAY_MARGIN_SECONDS = 60;

/**
 * The expiry of an entry for a value accepted while the service clock reads earlier than
 * `acceptedUntil` (epoch seconds, possibly fractional: jose compares whole seconds, so a
 * fractional exp is good until the next whole second), plus the margin.
 */
export function replayEntryExpiry(acceptedUntil: number): Date {
  return new Date((Math.ceil(acceptedUntil) + REPLAY_MARGIN_SECONDS) * 1000);
}
