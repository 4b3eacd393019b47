import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { KeyService } from '../keys/key-service.ts';
import type { Clock } from '../shared/clock.ts';

/** The JWT types this service signs: RFC 9068 access tokens and Txn-Tokens. */
export type OwnTokenType = 'at+jwt' | 'txntoken+jwt';

export type OwnTokenCheck = {
  typ: OwnTokenType;
  /** When set, the token's aud must contain one of these (RFC 8725 §3.9). */
  audience?: string | readonly string[];
  /** Claims that must be present besides exp and iat. */
  requiredClaims?: readonly string[];
};

/**
 * Why one of our own tokens was not accepted; `reason` is for the audit log, never for the caller.
 * `claims` are set when the signature held (an expired, revoked or misdirected token of ours), so
 * its jti can be audited; they are never set for a token we did not sign.
 */
export class OwnTokenRejected extends Error {
  constructor(message: string, readonly reason: string, readonly claims?: JWTPayload) {
    super(message);
  }
}

export type OwnTokenVerifierDeps = {
  keys: Pick<KeyService, 'verificationKey'>;
  clock: Clock;
  config: { issuer: string };
  /** RFC 7009: whether a token of ours has been revoked; answered from memory (revocation-list.ts). */
  isRevoked?: ((claims: JWTPayload) => boolean) | undefined;
};

/**
 * Verifies a token this service signed: a published key of ours (looked up by kid in memory, never
 * fetched), that key's algorithm only, our issuer, the expected typ, unexpired, not revoked. Used by the admin
 * API (its own audience and binding checks on top) and by token exchange (subject and actor tokens).
 */
export function createOwnTokenVerifier(deps: OwnTokenVerifierDeps) {
  return async function verifyOwnToken(token: string, check: OwnTokenCheck): Promise<JWTPayload> {
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      throw new OwnTokenRejected('the token is not a JWT', 'malformed_token');
    }
    const key = kid === undefined ? undefined : deps.keys.verificationKey(kid);
    if (!key) throw new OwnTokenRejected('the token is not signed by a current key of this service', 'unknown_kid');
    let verified: JWTPayload;
    try {
      const { payload } = await jwtVerify(token, key.key, {
        algorithms: [key.alg],
        issuer: deps.config.issuer,
        typ: check.typ,
        currentDate: deps.clock.now(),
        requiredClaims: ['exp', 'iat', ...(check.requiredClaims ?? [])],
        ...(check.audience !== undefined && { audience: typeof check.audience === 'string' ? check.audience : [...check.audience] }),
      });
      verified = payload;
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new OwnTokenRejected('the token has expired', 'token_expired', error.payload);
      if (error instanceof joseErrors.JWTClaimValidationFailed) throw new OwnTokenRejected(`the token's ${error.claim} claim is not valid here`, `claim_${error.claim}_invalid`, error.payload);
      throw new OwnTokenRejected('the token signature or header is not valid', 'token_invalid');
    }
    if (deps.isRevoked?.(verified)) throw new OwnTokenRejected('the token has been revoked', 'token_revoked', verified);
    return verified;
  };
}

export type OwnTokenVerifier = ReturnType<typeof createOwnTokenVerifier>;
