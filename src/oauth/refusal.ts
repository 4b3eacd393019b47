import type { AuditRepository } from '../audit/audit-repository.ts';
import type { AuditEntry, AuditService } from '../audit/audit-service.ts';
import type { DenialAggregator } from '../audit/denial-aggregator.ts';
import type { RequestContext } from '../audit/audit-event.ts';
import type { ClientLimits } from '../limits/client-limits.ts';
import { StorageUnavailable } from '../shared/errors.ts';
import { NoActiveSigningKey } from '../tokens/access-token-issuer.ts';
import type { AuthenticationAttempt } from './client-auth/authenticate-client.ts';
import type { PresentedCredentials } from './client-auth/presented-credentials.ts';
import { InvalidClient, OAuthError, RateLimited, ServerError, TemporarilyUnavailable } from './errors.ts';

export type RefusalDeps = {
  audit: AuditService;
  auditLog: AuditRepository;
  limits: ClientLimits;
  metrics?: { denied(error: { code: string; reason: string }): void } | undefined;
  /** Where the cause of an unexpected error goes (it is audited, answered 500, never sent). */
  onUnexpectedError?: ((error: unknown, context: RequestContext) => void) | undefined;
  /** A flood of identical refusals is stored as counts (AUDIT_DENIAL_WINDOW); issuances never are. */
  denials?: DenialAggregator | undefined;
};

/** The audit event of a refusal at each client-authenticated endpoint. */
export type RefusalEvent = 'token.denied' | 'token.introspected' | 'token.revoked';

/** The audit name of a mechanism's method before the client's registration says which one. */
const DEFAULT_METHOD: Record<string, string> = {
  basic: 'client_secret_basic', post: 'client_secret_post', assertion: 'private_key_jwt', federated: 'federated_jwt', certificate: 'tls_client_auth',
};

/**
 * The one error path of the client-authenticated endpoints (/token, /introspect, /revoke): every
 * refusal, from the endpoint or from the HTTP layer before it, counts towards the secret lockout,
 * is audited as `event` and mapped once (RFC 6749 §5.2); when even the audit cannot be stored, the
 * answer becomes 503 (fail closed).
 */
export function createRefusal(deps: RefusalDeps, event: RefusalEvent) {
  function asOAuthError(error: unknown, context: RequestContext): OAuthError {
    if (error instanceof OAuthError) return error;
    if (error instanceof StorageUnavailable || error instanceof NoActiveSigningKey) {
      return new TemporarilyUnavailable('the service is temporarily unable to answer; retry later', {
        reason: 'storage_unavailable', cause: error, retryAfterSeconds: 5,
      });
    }
    deps.onUnexpectedError?.(error, context);
    return new ServerError('internal error', { reason: 'internal_error', cause: error });
  }

  /**
   * A failed secret counts towards its (client, address) lockout; past the limit the answer is
   * 429 instead of 401. A counter store that is down only loses the count: it must not turn a
   * refusal into a 5xx, nor stop issuance.
   */
  async function applyLockout(error: OAuthError, credentials: PresentedCredentials | undefined, context: RequestContext): Promise<OAuthError> {
    if (!(error instanceof InvalidClient) || (credentials?.mechanism !== 'basic' && credentials?.mechanism !== 'post')) return error;
    const wait = await deps.limits.secretFailed(credentials.clientId, context.sourceAddress ?? '').catch(() => undefined);
    if (wait === undefined) return error;
    return new RateLimited('too many failed authentications; retry later', { reason: 'auth_failures_locked', retryAfterSeconds: wait, cause: error });
  }

  return async function refuse(context: RequestContext, raw: unknown, credentials?: PresentedCredentials, attempt: AuthenticationAttempt = {}): Promise<OAuthError> {
    const error = await applyLockout(asOAuthError(raw, context), credentials, context);
    const clientId = attempt.clientId ?? credentials?.clientId;
    const mechanism = credentials?.mechanism === 'invalid' ? credentials.attempted : credentials?.mechanism;
    const entry: AuditEntry = {
      type: event,
      outcome: 'failure',
      reason: error.reason,
      clientId,
      authMethod: attempt.method ?? (mechanism && DEFAULT_METHOD[mechanism]),
      ...(error.reason === 'auth_failures_locked' && { details: { failure: (error.cause as OAuthError).reason } }),
    };
    try {
      // A refusal counted into its flood's window is stored with the window's count, when it ends.
      if (!deps.denials || deps.denials.admit({ clientId, sourceAddress: context.sourceAddress, reason: error.reason }, entry)) {
        await deps.audit.record(deps.auditLog, context, entry);
      }
      deps.metrics?.denied(error);
      return error;
    } catch (auditError) {
      return new TemporarilyUnavailable('the service cannot record this request right now; retry later', {
        reason: 'storage_unavailable', cause: auditError, retryAfterSeconds: 5,
      });
    }
  };
}

export type Refuse = ReturnType<typeof createRefusal>;
