import { decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import type { ClientRepository } from '../clients/client-repository.ts';
import type { KeyService } from '../keys/key-service.ts';
import { Forbidden, Unauthenticated } from '../shared/errors.ts';
import type { Clock } from '../shared/clock.ts';

export const ADMIN_SCOPES = ['admin:clients', 'admin:keys', 'admin:audit'] as const;
export type AdminScope = (typeof ADMIN_SCOPES)[number];

export type AdminTokenVerifierDeps = {
  keys: Pick<KeyService, 'verificationKey'>;
  clients: Pick<ClientRepository, 'findById'>;
  clock: Clock;
  config: { issuer: string; adminAudience: string };
};

/**
 * The admin API accepts only this service's own access tokens (contract §5): signed by a
 * published key of ours, typ at+jwt, our issuer, audience <ISSUER>/admin (RFC 8725 §3.9: a token
 * for another audience is refused), unexpired, from a client that still exists and is enabled.
 */
export function createAdminTokenVerifier(deps: AdminTokenVerifierDeps) {
  return async function verifyAdminToken(token: string, required: AdminScope): Promise<{ clientId: string }> {
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      throw new Unauthenticated('the bearer token is not a JWT', 'malformed_token');
    }
    const key = kid === undefined ? undefined : deps.keys.verificationKey(kid);
    if (!key) throw new Unauthenticated('the bearer token is not signed by a current key of this service', 'unknown_kid');
    let payload;
    try {
      ({ payload } = await jwtVerify(token, key.key, {
        algorithms: [key.alg],
        issuer: deps.config.issuer,
        audience: deps.config.adminAudience,
        typ: 'at+jwt',
        currentDate: deps.clock.now(),
        requiredClaims: ['exp', 'iat', 'sub', 'client_id'],
      }));
    } catch (error) {
      const reason = error instanceof joseErrors.JWTExpired ? 'token_expired'
        : error instanceof joseErrors.JWTClaimValidationFailed ? `claim_${error.claim}_invalid`
        : 'token_invalid';
      throw new Unauthenticated('the bearer token is not valid for the admin API', reason);
    }
    const clientId = typeof payload.client_id === 'string' ? payload.client_id : '';
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
    const client = await deps.clients.findById(clientId);
    if (!client || client.disabled) throw new Unauthenticated('the bearer token belongs to no active client', 'client_inactive');
    if (!scopes.includes(required)) throw new Forbidden(`the bearer token lacks the ${required} scope`, 'insufficient_scope', required);
    return { clientId };
  };
}

export type AdminTokenVerifier = ReturnType<typeof createAdminTokenVerifier>;
