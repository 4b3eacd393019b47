import type { JWTPayload } from 'jose';
import type { AuditService } from '../audit/audit-service.ts';
import type { UnitOfWork } from '../shared/unit-of-work.ts';
import { OwnTokenRejected, type OwnTokenVerifier } from '../tokens/own-token-verifier.ts';
import type { AuthenticationAttempt } from './client-auth/authenticate-client.ts';
import type { PresentedCredentials } from './client-auth/presented-credentials.ts';
import { tokenParam, type CallerAuthentication } from './authenticated-caller.ts';
import type { OAuthError } from './errors.ts';
import type { Refuse } from './refusal.ts';
import type { TokenRequest } from './token-request.ts';

export type RevocationOutcome = { ok: true } | { ok: false; error: OAuthError };

export type RevocationEndpointDeps = {
  authenticateCaller: CallerAuthentication;
  verifyOwnToken: OwnTokenVerifier;
  uow: UnitOfWork;
  audit: AuditService;
  refuse: Refuse;
};

/**
 * POST /revoke (RFC 7009) on the token endpoint's pipeline. The authenticated client revokes an
 * access token issued to it: recorded by jti until the token's exp, in the same transaction as its
 * token.revoked audit record, and applied to this instance's revocation list before the answer
 * (other instances get it over the change feed). Whatever the token — another client's (§2.1:
 * revoke nothing), expired, revoked already, not ours, not a JWT — the answer is 200 (§2.2); only
 * the audit record says what happened. Refusals (bad credentials, no token) are RFC 6749 errors.
 */
export function createRevocationEndpoint(deps: RevocationEndpointDeps) {
  async function verified(token: string): Promise<{ claims: JWTPayload } | { rejected: OwnTokenRejected }> {
    try {
      return { claims: await deps.verifyOwnToken(token, { typ: 'at+jwt', requiredClaims: ['jti', 'client_id'] }) };
    } catch (error) {
      if (error instanceof OwnTokenRejected) return { rejected: error };
      throw error;
    }
  }

  async function revoke(req: TokenRequest, credentials: PresentedCredentials, attempt: AuthenticationAttempt): Promise<void> {
    const caller = await deps.authenticateCaller(req, credentials, attempt);
    // token_type_hint (§2.1) is accepted and not needed: access tokens are the only tokens issued here.
    const result = await verified(tokenParam(req));
    const callerId = caller.client.clientId;
    const base = { clientId: callerId, authMethod: caller.method };
    if ('rejected' in result) {
      const { reason, claims } = result.rejected;
      await deps.audit.record(deps.uow.stores.audit, req.context, {
        ...base,
        type: 'token.revoked',
        outcome: 'failure',
        reason: reason === 'token_revoked' ? 'already_revoked' : reason,
        jti: typeof claims?.jti === 'string' ? claims.jti : undefined,
        ...(typeof claims?.client_id === 'string' && { details: { token_client_id: claims.client_id } }),
      });
      return;
    }
    const jti = result.claims.jti as string;
    const tokenClient = result.claims.client_id as string;
    if (tokenClient !== callerId) {
      await deps.audit.record(deps.uow.stores.audit, req.context, {
        ...base, type: 'token.revoked', outcome: 'failure', reason: 'not_token_owner', jti, details: { token_client_id: tokenClient },
      });
      return;
    }
    const expiresAt = new Date(result.claims.exp! * 1000);
    await deps.uow.transaction(async (stores) => {
      const revoked = await stores.revocations.revokeToken({ jti, clientId: callerId, expiresAt });
      await deps.audit.record(stores.audit, req.context, {
        ...base,
        type: 'token.revoked',
        outcome: revoked ? 'success' : 'failure',
        ...(!revoked && { reason: 'already_revoked' }),
        jti,
        details: { token_client_id: tokenClient, expires_at: expiresAt.toISOString() },
      });
    });
  }

  return {
    /** Never throws: a refusal comes back audited, as the error to send. */
    async handle(req: TokenRequest, credentials: PresentedCredentials): Promise<RevocationOutcome> {
      const attempt: AuthenticationAttempt = {};
      try {
        await revoke(req, credentials, attempt);
        return { ok: true };
      } catch (error) {
        return { ok: false, error: await deps.refuse(req.context, error, credentials, attempt) };
      }
    },
    refuse: deps.refuse,
  };
}

export type RevocationEndpoint = ReturnType<typeof createRevocationEndpoint>;
