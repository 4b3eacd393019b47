import type { CertificateRejection } from '../tls/certificate-validation.ts';

/** RFC 6749 §5.2 error codes, plus the contract's rate_limited (§2). */
export type OAuthErrorCode =
  | 'invalid_dpop_proof'
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'rate_limited'
  | 'temporarily_unavailable'
  | 'server_error';

/**
 * Why a token request was refused: recorded in the audit log for operators, never sent to the
 * caller (node-oidc-provider's error_detail, Hydra's WithDebug).
 */
export type DenialReason =
  | 'malformed_request'
  | 'method_not_allowed'
  | 'duplicate_parameter'
  | 'unsupported_content_type'
  | 'body_too_large'
  | 'no_client_authentication'
  | 'multiple_auth_methods'
  | 'client_id_mismatch'
  | 'malformed_credentials'
  | 'unknown_client'
  | 'client_disabled'
  | 'auth_method_mismatch'
  | 'invalid_secret'
  | 'secret_expired'
  | 'no_secret'
  | 'missing_grant_type'
  | 'unsupported_grant_type'
  | 'grant_not_allowed'
  | 'invalid_scope'
  | 'scope_not_allowed'
  | 'invalid_target'
  | 'audience_not_allowed'
  | 'audience_required'
  | 'rate_limited'
  | 'quota_exceeded'
  | 'auth_failures_locked'
  | 'storage_unavailable'
  | 'internal_error'
  | 'invalid_dpop_proof'
  // RFC 8705 client certificates: how the certificate arrived (src/http/middleware/client-certificate.ts)…
  | 'certificate_missing'
  | 'untrusted_forwarded_cert'
  | 'conflicting_certificates'
  | 'forwarded_cert_malformed'
  | 'forwarded_hash_mismatch'
  | 'forwarded_identity_not_trusted'
  // …RFC 5280 path validation, listed once with what each means (src/tls/certificate-validation.ts)…
  | CertificateRejection
  // …and whether it is this client's.
  | 'cert_subject_mismatch'
  | 'cert_not_registered'
  // RFC 8693 token exchange and Txn-Tokens (src/oauth/grants/token-exchange.ts)
  | 'exchange_not_allowed'
  | 'issuer_not_allowed'
  | 'unknown_issuer'
  | 'unsupported_token_type'
  | 'missing_subject_token'
  | `subject_token_${string}`
  | `actor_token_${string}`
  | 'actor_mismatch'
  | 'may_act_mismatch'
  | 'chain_too_deep'
  | 'wrong_trust_domain'
  | 'subject_scope_unknown'
  | 'context_missing'
  | 'context_invalid'
  | 'context_changed'
  // RFC 7662 introspection and RFC 7009 revocation (src/oauth/introspection-endpoint.ts, revocation-endpoint.ts)
  | 'missing_token'
  | 'introspection_not_allowed';

export type OAuthErrorOptions = { reason: DenialReason; cause?: unknown; retryAfterSeconds?: number };

export abstract class OAuthError extends Error {
  abstract readonly code: OAuthErrorCode;
  abstract readonly status: 400 | 401 | 405 | 413 | 429 | 500 | 503;
  readonly reason: DenialReason;
  readonly retryAfterSeconds: number | undefined;
  constructor(readonly description: string, opts: OAuthErrorOptions) {
    super(description, { cause: opts.cause });
    this.reason = opts.reason;
    this.retryAfterSeconds = opts.retryAfterSeconds;
  }
}

export class InvalidRequest extends OAuthError { readonly code = 'invalid_request'; readonly status = 400; }
/** invalid_request answered with 405 (wrong method) or 413 (body too large), as HTTP asks. */
export class MethodNotAllowed extends OAuthError { readonly code = 'invalid_request'; readonly status = 405; }
export class RequestTooLarge extends OAuthError { readonly code = 'invalid_request'; readonly status = 413; }
/** RFC 6749 §5.2: the grant presented (an exchanged token's delegation) does not hold for this client. */
export class InvalidGrant extends OAuthError { readonly code = 'invalid_grant'; readonly status = 400; }
export class UnauthorizedClient extends OAuthError { readonly code = 'unauthorized_client'; readonly status = 400; }
export class UnsupportedGrantType extends OAuthError { readonly code = 'unsupported_grant_type'; readonly status = 400; }
export class InvalidScope extends OAuthError { readonly code = 'invalid_scope'; readonly status = 400; }
export class InvalidTarget extends OAuthError { readonly code = 'invalid_target'; readonly status = 400; }
/** RFC 9449 §5: the DPoP proof is missing a requirement or was used before. */
export class InvalidDpopProof extends OAuthError { readonly code = 'invalid_dpop_proof'; readonly status = 400; }
export class RateLimited extends OAuthError { readonly code = 'rate_limited'; readonly status = 429; }
export class TemporarilyUnavailable extends OAuthError { readonly code = 'temporarily_unavailable'; readonly status = 503; }
/** A fault of ours (a bug): audited like any refusal, its cause logged for operators, never sent. */
export class ServerError extends OAuthError { readonly code = 'server_error'; readonly status = 500; }

/** Same text for every cause, so the answer never reveals whether the client exists (contract §2). */
export const INVALID_CLIENT_DESCRIPTION = 'client authentication failed';

export class InvalidClient extends OAuthError {
  readonly code = 'invalid_client';
  readonly status = 401;
  constructor(reason: DenialReason, cause?: unknown) {
    super(INVALID_CLIENT_DESCRIPTION, { reason, cause });
  }
}
