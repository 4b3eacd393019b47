import type { AuditRepository } from '../audit/audit-repository.ts';
import type { AuditService } from '../audit/audit-service.ts';
import type { TokenInspector } from '../tokens/introspection.ts';
import type { IntrospectionResponseSigner } from '../tokens/introspection-response-signer.ts';
import type { AuthenticationAttempt } from './client-auth/authenticate-client.ts';
import type { PresentedCredentials } from './client-auth/presented-credentials.ts';
import { tokenParam, type CallerAuthentication } from './authenticated-caller.ts';
import { type OAuthError, UnauthorizedClient } from './errors.ts';
import type { Refuse } from './refusal.ts';
import type { TokenRequest } from './token-request.ts';

export type IntrospectionFormat = 'json' | 'jwt';

export type IntrospectionOutcome =
  | { ok: true; format: 'json'; body: Record<string, unknown> }
  | { ok: true; format: 'jwt'; jwt: string }
  | { ok: false; error: OAuthError };

export type IntrospectionEndpointDeps = {
  authenticateCaller: CallerAuthentication;
  inspectToken: TokenInspector;
  signResponse: IntrospectionResponseSigner;
  audit: AuditService;
  auditLog: AuditRepository;
  refuse: Refuse;
};

/**
 * POST /introspect (RFC 7662) on the token endpoint's pipeline: authenticate the caller as /token
 * does (same methods, lockout, per-client limit) → the caller must be registered with
 * `introspection: true` → inspect the token in memory → audit token.introspected (never the token:
 * its jti when it is one of ours, and the answer) → respond, as JSON or, when asked, as a signed
 * JWT (RFC 9701). Every inactive case answers only `{"active": false}` (§2.2), whatever the cause.
 */
export function createIntrospectionEndpoint(deps: IntrospectionEndpointDeps) {
  async function introspect(req: TokenRequest, credentials: PresentedCredentials, attempt: AuthenticationAttempt, format: IntrospectionFormat) {
    const caller = await deps.authenticateCaller(req, credentials, attempt);
    if (!caller.client.introspection) {
      throw new UnauthorizedClient('the client is not allowed to introspect tokens', { reason: 'introspection_not_allowed' });
    }
    // token_type_hint (§2.1) is accepted and not needed: this service issues one kind of token to introspect.
    const state = await deps.inspectToken(tokenParam(req));
    const body: Record<string, unknown> = state.active
      ? { active: true, ...state.claims, token_type: state.tokenType }
      : { active: false };
    // Spread first for a readable order; no claim of the token may stand in for the verdict.
    if (state.active) body.active = true;
    const claims = state.active ? state.claims : undefined;
    await deps.audit.record(deps.auditLog, req.context, {
      type: 'token.introspected',
      outcome: 'success',
      clientId: caller.client.clientId,
      authMethod: caller.method,
      jti: state.active ? (claims!.jti as string) : state.jti,
      details: {
        active: state.active,
        format,
        ...(state.active ? { token_client_id: claims!.client_id } : { inactive_reason: state.reason, ...(state.clientId && { token_client_id: state.clientId }) }),
      },
    });
    if (format === 'jwt') return { ok: true as const, format, jwt: await deps.signResponse(caller.client.clientId, body) };
    return { ok: true as const, format, body };
  }

  return {
    /** Never throws: a refusal comes back audited, as the error to send. */
    async handle(req: TokenRequest, credentials: PresentedCredentials, format: IntrospectionFormat): Promise<IntrospectionOutcome> {
      const attempt: AuthenticationAttempt = {};
      try {
        return await introspect(req, credentials, attempt, format);
      } catch (error) {
        return { ok: false, error: await deps.refuse(req.context, error, credentials, attempt) };
      }
    },
    refuse: deps.refuse,
  };
}

export type IntrospectionEndpoint = ReturnType<typeof createIntrospectionEndpoint>;
