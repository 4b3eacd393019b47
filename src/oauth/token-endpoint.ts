import type { AuditService } from '../audit/audit-service.ts';
import type { AuditRepository } from '../audit/audit-repository.ts';
import type { RequestContext } from '../audit/audit-event.ts';
import { StorageUnavailable } from '../shared/errors.ts';
import { NoActiveSigningKey, type AccessTokenIssuer } from '../tokens/access-token-issuer.ts';
import { InvalidDpopProofError, type DpopVerifier } from '../tokens/dpop.ts';
import type { AuthenticationAttempt, ClientAuthenticator } from './client-auth/authenticate-client.ts';
import type { ClientAuthMethod } from './client-auth/client-auth-method.ts';
import {
  type DenialReason,
  InvalidDpopProof,
  InvalidRequest,
  OAuthError,
  TemporarilyUnavailable,
  UnauthorizedClient,
  UnsupportedGrantType,
} from './errors.ts';
import type { GrantHandler } from './grants/grant-handler.ts';
import { param, type TokenRequest } from './token-request.ts';

export type TokenResponse = { access_token: string; token_type: 'Bearer' | 'DPoP'; expires_in: number; scope: string };

export type TokenEndpointDeps = {
  grants: readonly GrantHandler[];
  methods: readonly ClientAuthMethod[];
  authenticateClient: ClientAuthenticator;
  issuer: AccessTokenIssuer;
  audit: AuditService;
  auditLog: AuditRepository;
  verifyDpopProof: DpopVerifier;
  metrics?: TokenMetrics;
};

/** Counters the endpoint reports to (Prometheus in production). */
export type TokenMetrics = { issued(): void; denied(reason: string): void };

/** Longest accepted value of any parameter; assertions (RFC 7523) are the longest legitimate ones. */
const MAX_VALUE_LENGTH = 16_384;

/**
 * POST /token as named steps (node-oidc-provider's token action): rejectDuplicates →
 * authenticateClient → checkGrantTypeSupported → checkClientMayUseGrant → grant decides →
 * sign → audit token.issued → respond. Every refusal is audited as token.denied before it is sent.
 */
export function createTokenEndpoint(deps: TokenEndpointDeps) {
  // Built once at start-up, not per request.
  const grantsByType = new Map(deps.grants.map((g) => [g.grantType, g]));
  const repeatable = new Set(deps.grants.flatMap((g) => [...g.repeatable]));

  function rejectDuplicates(req: TokenRequest): void {
    for (const [name, values] of req.params) {
      if (/[[\]]/.test(name)) throw new InvalidRequest(`parameter names with brackets are not accepted`, { reason: 'malformed_request' });
      if (values.length > 1 && !repeatable.has(name)) {
        throw new InvalidRequest(`parameter ${name} must not be sent more than once (RFC 6749 section 3.2)`, { reason: 'duplicate_parameter' });
      }
      if (values.some((v) => v.length > MAX_VALUE_LENGTH)) throw new InvalidRequest(`parameter ${name} is too long`, { reason: 'malformed_request' });
    }
  }

  function grantFor(req: TokenRequest, clientGrantTypes: readonly string[]): GrantHandler {
    const grantType = param(req, 'grant_type');
    if (grantType === undefined || grantType === '') throw new InvalidRequest('grant_type is required', { reason: 'missing_grant_type' });
    const handler = grantsByType.get(grantType);
    if (!handler) throw new UnsupportedGrantType('the grant_type is not supported', { reason: 'unsupported_grant_type' });
    if (!clientGrantTypes.includes(grantType)) {
      throw new UnauthorizedClient('the client is not allowed to use this grant_type', { reason: 'grant_not_allowed' });
    }
    return handler;
  }

  async function dpopThumbprint(proof: string): Promise<string> {
    try {
      return await deps.verifyDpopProof(proof);
    } catch (error) {
      if (!(error instanceof InvalidDpopProofError)) throw error;
      throw new InvalidDpopProof('the DPoP proof is not valid for this request', { reason: error.reason as DenialReason, cause: error });
    }
  }

  /** Records a refusal; when even that cannot be stored, the answer becomes 503 (fail closed). */
  async function deny(context: RequestContext, error: OAuthError, attempt: AuthenticationAttempt): Promise<OAuthError> {
    try {
      await deps.audit.record(deps.auditLog, context, {
        type: 'token.denied',
        outcome: 'failure',
        reason: error.reason,
        clientId: attempt.clientId,
        authMethod: attempt.method,
      });
      deps.metrics?.denied(error.reason);
      return error;
    } catch (auditError) {
      return new TemporarilyUnavailable('the service cannot record this request right now; retry later', {
        reason: 'storage_unavailable', cause: auditError, retryAfterSeconds: 5,
      });
    }
  }

  function asOAuthError(error: unknown): OAuthError {
    if (error instanceof OAuthError) return error;
    if (error instanceof StorageUnavailable || error instanceof NoActiveSigningKey) {
      return new TemporarilyUnavailable('the service is temporarily unable to issue tokens; retry later', {
        reason: 'storage_unavailable', cause: error, retryAfterSeconds: 5,
      });
    }
    throw error;
  }

  async function handle(req: TokenRequest): Promise<TokenResponse> {
    const attempt: AuthenticationAttempt = {};
    try {
      rejectDuplicates(req);
      const authenticated = await deps.authenticateClient(req, attempt);
      const grant = grantFor(req, authenticated.client.grantTypes);
      const decision = grant.decide(req, authenticated);
      const cnf = { ...authenticated.cnf, ...(req.dpop !== undefined && { jkt: await dpopThumbprint(req.dpop) }) };
      const token = await deps.issuer.issue({ client: authenticated.client, ...decision, cnf: Object.keys(cnf).length ? cnf : undefined });
      const scope = decision.scopes.join(' ');
      // Fail closed: the token leaves only once its audit record is stored.
      await deps.audit.record(deps.auditLog, req.context, {
        type: 'token.issued',
        outcome: 'success',
        clientId: authenticated.client.clientId,
        authMethod: authenticated.method,
        audience: decision.audience,
        scope,
        jti: token.jti,
        kid: token.kid,
        details: { grant_type: grant.grantType, expires_in: token.expiresIn, ...authenticated.auditDetails, ...(cnf.jkt && { jkt: cnf.jkt }) },
      });
      deps.metrics?.issued();
      // RFC 9449 §5: a DPoP-bound token is of type DPoP.
      return { access_token: token.accessToken, token_type: cnf.jkt ? 'DPoP' : 'Bearer', expires_in: token.expiresIn, scope };
    } catch (error) {
      throw await deny(req.context, asOAuthError(error), attempt);
    }
  }

  return { handle, deny };
}

export type TokenEndpoint = ReturnType<typeof createTokenEndpoint>;
