/** RFC 6750 §3.1 and RFC 9449 §7.1 error codes a protected resource answers with. */
export type ResourceErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof';

/** The authentication scheme a challenge is for: RFC 6750 Bearer or RFC 9449 DPoP. */
export type AuthScheme = 'Bearer' | 'DPoP';

/**
 * Why a request may not use the route. `description` is for the caller (it goes into the
 * WWW-Authenticate challenge and the body); `reason` is a machine word for the operator's logs and
 * metrics, never sent. `code` is absent when the request carried no credentials at all
 * (RFC 6750 §3.1: then the challenge names no error).
 */
export class AccessTokenRejected extends Error {
  readonly status: 400 | 401 | 403;
  readonly code: ResourceErrorCode | undefined;
  readonly description: string;
  readonly reason: string;
  /** The challenge's scheme when the caller used one; otherwise every scheme the route accepts. */
  readonly scheme: AuthScheme | undefined;
  /** For insufficient_scope: the scopes the route needs (RFC 6750 §3 `scope` attribute). */
  readonly requiredScopes: readonly string[] | undefined;

  constructor(
    code: ResourceErrorCode | undefined,
    description: string,
    options: { reason: string; scheme?: AuthScheme; requiredScopes?: readonly string[]; cause?: unknown },
  ) {
    super(description, { cause: options.cause });
    this.name = 'AccessTokenRejected';
    this.code = code;
    this.description = description;
    this.reason = options.reason;
    this.scheme = options.scheme;
    this.requiredScopes = options.requiredScopes;
    this.status = code === 'insufficient_scope' ? 403 : code === 'invalid_request' ? 400 : 401;
  }
}

/** The introspection endpoint could not give an answer: the route fails closed with 503. */
export class IntrospectionUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IntrospectionUnavailable';
  }
}

/** The key set could not be fetched or was refused, and no earlier good set is held. */
export class JwksUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'JwksUnavailable';
  }
}
