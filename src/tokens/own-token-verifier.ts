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

/** Why one of our own tokens was not accepted; `reason` is for the audit log, never for the caller. */
export class OwnTokenRejected extends Error {
  constructor(message: string, readonly reason: string) {
    super(message);
  }
}

export type OwnTokenVerifierDeps = {
  keys: Pick<KeyService, 'verificationKey'>;
  clock: Clock;
  config: { issuer: string };
};

/**
 * Verifies a token this service signed: a published key of ours (looked up by kid in memory, never
 * fetched), that key's algorithm only, our issuer, the expected typ, unexpired. Used by the admin
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
    try {
      const { payload } = await jwtVerify(token, key.key, {
        algorithms: [key.alg],
        issuer: deps.config.issuer,
        typ: check.typ,
        currentDate: deps.clock.now(),
        requiredClaims: ['exp', 'iat', ...(check.requiredClaims ?? [])],
        ...(check.audience !== undefined && { audience: typeof check.audience === 'string' ? check.audience : [...check.audience] }),
      });
      return payload;
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new OwnTokenRejected('the token has expired', 'token_expired');
      if (error instanceof joseErrors.JWTClaimValidationFailed) throw new OwnTokenRejected(`the token's ${error.claim} claim is not valid here`, `claim_${error.claim}_invalid`);
      throw new OwnTokenRejected('the token signature or header is not valid', 'token_invalid');
    }
  };
}

export type OwnTokenVerifier = ReturnType<typeof createOwnTokenVerifier>;
