import type { JWTPayload } from 'jose';
import type { ClientLookup } from '../oauth/client-auth/authenticate-client.ts';
import { OwnTokenRejected, type OwnTokenVerifier } from './own-token-verifier.ts';

/** RFC 7662 §2.2: an active token's claims, as the response carries them. */
export type ActiveToken = { active: true; claims: JWTPayload; tokenType: 'Bearer' | 'DPoP' };

/** Why a token is inactive (for the audit log, never for the caller: RFC 7662 §2.2 answers only active: false). */
export type InactiveToken = { active: false; reason: string; jti?: string | undefined; clientId?: string | undefined };

export type TokenState = ActiveToken | InactiveToken;

const verifiedJti = (claims: JWTPayload | undefined) => (typeof claims?.jti === 'string' ? claims.jti : undefined);
const verifiedClient = (claims: JWTPayload | undefined) => (typeof claims?.client_id === 'string' ? claims.client_id : undefined);

/**
 * What this service knows of one of its access tokens: active when signed by a current key of ours,
 * typ at+jwt (a Txn-Token is context for the workloads of its trust domain, not an access token to
 * introspect), unexpired, not revoked, and its client still exists and is enabled (a client
 * disabled or deleted since takes its tokens with it). Every lookup is in memory: keys, revocations,
 * the client directory.
 */
export function createTokenInspector(deps: { verifyOwnToken: OwnTokenVerifier; clients: ClientLookup }) {
  return async function inspectToken(token: string): Promise<TokenState> {
    let claims: JWTPayload;
    try {
      claims = await deps.verifyOwnToken(token, { typ: 'at+jwt', requiredClaims: ['jti', 'client_id', 'sub'] });
    } catch (error) {
      if (!(error instanceof OwnTokenRejected)) throw error;
      return { active: false, reason: error.reason, jti: verifiedJti(error.claims), clientId: verifiedClient(error.claims) };
    }
    const clientId = verifiedClient(claims);
    const record = clientId === undefined ? undefined : await deps.clients.find(clientId);
    if (!record || record.client.disabled) return { active: false, reason: 'client_inactive', jti: verifiedJti(claims), clientId };
    const cnf = claims.cnf as { jkt?: unknown } | undefined;
    // RFC 9449 §8.1 (and its introspection example): a DPoP-bound token is of type DPoP.
    return { active: true, claims, tokenType: cnf?.jkt !== undefined ? 'DPoP' : 'Bearer' };
  };
}

export type TokenInspector = ReturnType<typeof createTokenInspector>;
