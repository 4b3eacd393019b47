import type { AuditService } from '../audit/audit-service.ts';
import type { AuditRepository } from '../audit/audit-repository.ts';
import type { RequestContext } from '../audit/audit-event.ts';
import type { ClientLimits } from '../limits/client-limits.ts';
import type { IssuanceQuota } from '../limits/issuance-quota.ts';
import type { DenialAggregator } from '../audit/denial-aggregator.ts';
import type { AccessTokenIssuer } from '../tokens/access-token-issuer.ts';
import { InvalidDpopProofError, type DpopVerifier } from '../tokens/dpop.ts';
import type { AuthenticationAttempt, ClientAuthenticator } from './client-auth/authenticate-client.ts';
import type { PresentedCredentials } from './client-auth/presented-credentials.ts';
import {
  type DenialReason,
  InvalidDpopProof,
  InvalidRequest,
  OAuthError,
  RateLimited,
  UnauthorizedClient,
  UnsupportedGrantType,
} from './errors.ts';
import { createRefusal } from './refusal.ts';
import type { GrantHandler } from './grants/grant-handler.ts';
import { param, type TokenRequest } from './token-request.ts';

/** RFC 6749 §5.1; RFC 8693 §2.2.1 adds issued_token_type, and token_type N_A for a token that is not an access token. */
export type TokenResponse = {
  access_token: string;
  issued_token_type?: string;
  token_type: 'Bearer' | 'DPoP' | 'N_A';
  expires_in: number;
  scope: string;
};

export type TokenEndpointDeps = {
  grants: readonly GrantHandler[];
  authenticateClient: ClientAuthenticator;
  issuer: AccessTokenIssuer;
  audit: AuditService;
  auditLog: AuditRepository;
  verifyDpopProof: DpopVerifier;
  limits: ClientLimits;
  /** TOKEN_QUOTA_PER_HOUR / _PER_DAY; absent when neither is set. */
  quota?: IssuanceQuota | undefined;
  metrics?: TokenMetrics;
  /** Stores floods of identical refusals once plus a count (AUDIT_DENIAL_WINDOW); absent: each one. */
  denials?: DenialAggregator | undefined;
  /** Where the cause of an unexpected error goes (it is audited, answered 500, never sent). */
  onUnexpectedError?: (error: unknown, context: RequestContext) => void;
};

/** Counters the endpoint reports to (Prometheus in production). */
export type TokenMetrics = {
  issued(token: { clientId: string; audience: readonly string[]; authMethod: string; expiresIn: number }): void;
  denied(error: { code: string; reason: string }): void;
};

export type TokenOutcome = { ok: true; body: TokenResponse } | { ok: false; error: OAuthError };

/** Longest accepted value of any parameter; assertions (RFC 7523) are the longest legitimate ones. */
const MAX_VALUE_LENGTH = 16_384;

/**
 * POST /token as named steps (node-oidc-provider's token action): rejectDuplicates →
 * authenticateClient → per-client limit → checkGrantTypeSupported → checkClientMayUseGrant →
 * grant decides → sign → audit token.issued → respond. refuse() is the one error path: every
 * refusal, from here or from the HTTP layer before it, is counted, audited and mapped once.
 */
export function createTokenEndpoint(deps: TokenEndpointDeps) {
  // Built once at start-up, not per request.
  const grantsByType = new Map(deps.grants.map((g) => [g.grantType, g]));
  const repeatable = new Set(deps.grants.flatMap((g) => [...g.repeatable]));

  function rejectDuplicates(req: TokenRequest): void {
    for (const [name, values] of req.params) {
      if (name.includes('[') || name.includes(']')) throw new InvalidRequest(`parameter names with brackets are not accepted`, { reason: 'malformed_request' });
      if (values.length > 1 && !repeatable.has(name)) {
        throw new InvalidRequest(`parameter ${name} must not be sent more than once (RFC 6749 section 3.2)`, { reason: 'duplicate_parameter' });
      }
      for (const v of values) if (v.length > MAX_VALUE_LENGTH) throw new InvalidRequest(`parameter ${name} is too long`, { reason: 'malformed_request' });
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

  const refuse = createRefusal(deps, 'token.denied');

  async function issue(req: TokenRequest, credentials: PresentedCredentials, attempt: AuthenticationAttempt): Promise<TokenResponse> {
    rejectDuplicates(req);
    if (credentials.mechanism === 'invalid') throw credentials.error;
    const authenticated = await deps.authenticateClient(req, credentials, attempt);
    const wait = await deps.limits.issued(authenticated.client.clientId);
    if (wait !== undefined) throw new RateLimited('too many token requests for this client; retry later', { reason: 'rate_limited', retryAfterSeconds: wait });
    const counting = deps.quota?.(authenticated.client);
    const over = counting && await counting;
    if (over) {
      throw new RateLimited(`the client has used its token quota for this ${over.window}; reuse the tokens it holds until they expire`, {
        reason: 'quota_exceeded', retryAfterSeconds: over.retryAfterSeconds,
      });
    }
    const grant = grantFor(req, authenticated.client.grantTypes);
    const decision = await grant.handle(req, authenticated);
    const txn = decision.kind === 'txn_token';
    // A Txn-Token is context, not a credential: it carries no confirmation claim (draft section "Txn-Token Format").
    if (txn && req.dpop !== undefined) throw new InvalidRequest('a Txn-Token cannot be DPoP-bound: send the request without a DPoP proof', { reason: 'malformed_request' });
    const jkt = req.dpop === undefined ? undefined : await dpopThumbprint(req.dpop);
    const cnf = txn ? undefined : jkt === undefined ? authenticated.cnf : { ...authenticated.cnf, jkt };
    const token = await deps.issuer.issue({ client: authenticated.client, ...decision, cnf });
    const scope = decision.scopes.join(' ');
    // Fail closed: the token leaves only once its audit record is stored.
    await deps.audit.record(deps.auditLog, req.context, {
      type: decision.audit.type,
      outcome: 'success',
      clientId: authenticated.client.clientId,
      authMethod: authenticated.method,
      audience: decision.audience,
      scope,
      jti: token.jti,
      kid: token.kid,
      details: {
        grant_type: grant.grantType, expires_in: token.expiresIn, ...decision.audit.details, ...authenticated.auditDetails, ...(jkt && { jkt }),
      },
    });
    deps.metrics?.issued({ clientId: authenticated.client.clientId, audience: decision.audience, authMethod: authenticated.method, expiresIn: token.expiresIn });
    return {
      access_token: token.accessToken,
      ...(decision.issuedTokenType && { issued_token_type: decision.issuedTokenType }),
      // RFC 9449 §5: a DPoP-bound token is of type DPoP; RFC 8693 §2.2.1: N_A for what is not an access token.
      token_type: txn ? 'N_A' : jkt ? 'DPoP' : 'Bearer',
      expires_in: token.expiresIn,
      scope,
    };
  }

  return {
    /** Never throws: a refusal comes back audited, as the error to send. */
    async handle(req: TokenRequest, credentials: PresentedCredentials): Promise<TokenOutcome> {
      const attempt: AuthenticationAttempt = {};
      try {
        return { ok: true, body: await issue(req, credentials, attempt) };
      } catch (error) {
        return { ok: false, error: await refuse(req.context, error, credentials, attempt) };
      }
    },
    refuse,
  };
}

export type TokenEndpoint = ReturnType<typeof createTokenEndpoint>;
