/** One access token revoked by its jti (RFC 7009), until its own exp. */
export type TokenRevocation = { jti: string; clientId: string; expiresAt: Date };

/** Every token of a client issued before `issuedBefore` is revoked, until `expiresAt` (when none of them can still be unexpired). */
export type ClientTokenCutoff = { clientId: string; issuedBefore: Date; expiresAt: Date };

/** Storage of revocations. Every write reports its change, so every instance applies it once committed. */
export interface RevocationRepository {
  /** False when the token was revoked already (nothing changed). */
  revokeToken(revocation: TokenRevocation): Promise<boolean>;
  /** Stores the later of the stored and the new cut-off; returns the one now in force. */
  revokeClientTokens(cutoff: ClientTokenCutoff): Promise<ClientTokenCutoff>;
  /** Every revocation still in force at `now`, for an instance's in-memory view. */
  listInForce(now: Date): Promise<{ tokens: TokenRevocation[]; clients: ClientTokenCutoff[] }>;
  /** Deletes revocations whose tokens have all expired; how many went. */
  pruneExpired(now: Date): Promise<number>;
}
