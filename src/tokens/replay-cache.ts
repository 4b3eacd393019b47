/**
 * Remembers single-use identifiers (RFC 7523 §3 item 7 assertion jti, RFC 9449 §11.1 DPoP proof jti)
 * until they expire. Shared by every instance (database, or Redis when REDIS_URL is set), so a
 * replay to another instance is caught too; the first use wins even when copies race.
 */
export interface ReplayCache {
  /** True on first use; false when the key was already used and has not expired. */
  useOnce(key: string, expiresAt: Date): Promise<boolean>;
}
