import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Verifier, VerifiedAccessToken } from './access-token-verifier.js';
import { createCertificateReader, type ClientCertificateOptions } from './client-certificate.js';
import { AccessTokenRejected, IntrospectionUnavailable, JwksUnavailable, type AuthScheme } from './errors.js';
import { wwwAuthenticate } from './www-authenticate.js';

/** RFC 6750 §2.1 and RFC 9449 §7.1: the scheme (case-insensitive) and a token68 credential. */
const CREDENTIALS = /^(Bearer|DPoP) +([A-Za-z0-9._~+/-]+=*)$/i;
const OUR_SCHEME = /^(Bearer|DPoP)(\s|$)/i;
const AUTH = Symbol.for('@identity-backend/verifier.auth');

export type MiddlewareOptions = {
  /** The realm named in challenges. */
  realm?: string;
  /**
   * The public origin callers address this service by (`https://orders.internal`), for the DPoP
   * htu. Default: the Host header and whether this socket is TLS; behind a proxy, set it.
   */
  origin?: string;
  /** Where a certificate comes from when tokens are certificate-bound (RFC 8705): TLS, or a trusted proxy's header. */
  clientCertificates?: ClientCertificateOptions;
  /** Told about every refusal (status, reason), for the operator's logs; never the token. */
  onRejected?: (req: IncomingMessage, rejection: AccessTokenRejected) => void;
};

export type RouteRequirements = {
  /** Scopes the token must all hold (403 insufficient_scope otherwise). */
  scopes?: readonly string[];
  /** Ask the issuer (RFC 7662) whether the token is still active: for high-value routes. */
  introspect?: boolean;
};

/** Anything Express, Connect or node:http hands a middleware. */
type Next = (error?: unknown) => void;
export type AccessTokenMiddleware = (req: IncomingMessage, res: ServerResponse, next: Next) => void;

/** The verified token of a request that went through the middleware (also `req.auth`). */
export function accessTokenOf(req: IncomingMessage): VerifiedAccessToken {
  const auth = (req as unknown as Record<symbol, VerifiedAccessToken | undefined>)[AUTH];
  if (!auth) throw new Error('no verified access token on this request: is the route behind the verifier middleware?');
  return auth;
}

/** RFC 9449 §4.3 check 1: one DPoP field; a comma-joined value is several fields (RFC 9110 §5.3). */
const dpopProofs = (req: IncomingMessage) => (req.headersDistinct.dpop ?? []).flatMap((v) => v.split(',')).map((v) => v.trim());

function send(res: ServerResponse, status: number, headers: Record<string, string | string[]>, body: Record<string, string> | undefined) {
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('Cache-Control', 'no-store');
  if (body === undefined) {
    res.end();
    return;
  }
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.end(JSON.stringify(body));
}

/**
 * The route's guard: reads `Authorization: Bearer|DPoP <token>`, the DPoP header and the client
 * certificate, verifies, and either sets the token on the request (`accessTokenOf(req)`, `req.auth`)
 * or answers 400/401/403 with an RFC 6750 / RFC 9449 WWW-Authenticate challenge, or 503 when a
 * fact it needs (the issuer's keys, an introspection answer) cannot be had.
 */
export function createMiddleware(verifier: Verifier, options: MiddlewareOptions = {}) {
  const readCertificate = createCertificateReader(options.clientCertificates);
  const schemes: AuthScheme[] = ['Bearer', 'DPoP'];
  const challenge = (rejection: AccessTokenRejected) => wwwAuthenticate(rejection, { realm: options.realm, schemes, dpopAlgorithms: verifier.dpopAlgorithms });

  function requestUrl(req: IncomingMessage): string {
    const path = ((req as { originalUrl?: string }).originalUrl ?? req.url ?? '/').split(/[?#]/)[0];
    const origin = options.origin ?? `${(req.socket as Partial<TLSSocket>).encrypted ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}`;
    return `${origin.replace(/\/$/, '')}${path}`;
  }

  function credentials(req: IncomingMessage): { scheme: AuthScheme; token: string } {
    const headers = req.headersDistinct.authorization ?? [];
    const ours = headers.filter((h) => OUR_SCHEME.test(h));
    // RFC 6750 §3.1: no credentials of ours at all → a challenge without an error code.
    if (ours.length === 0) throw new AccessTokenRejected(undefined, 'an access token is required', { reason: 'no_token' });
    const match = ours.length === 1 && headers.length === 1 ? CREDENTIALS.exec(ours[0]!) : null;
    if (!match) throw new AccessTokenRejected('invalid_request', 'the Authorization header is malformed', { reason: 'malformed_authorization' });
    return { scheme: match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', token: match[2]! };
  }

  return function requireAccessToken(route: RouteRequirements = {}): AccessTokenMiddleware {
    return (req, res, next) => {
      const run = async () => {
        const { scheme, token } = credentials(req);
        const certificate = readCertificate(req);
        const verified = await verifier.verify(token, {
          scheme,
          ...(route.scopes && { scopes: route.scopes }),
          ...(route.introspect && { introspect: true }),
          dpop: { proofs: dpopProofs(req), method: req.method ?? 'GET', url: requestUrl(req) },
          certificateThumbprint: certificate.thumbprint,
          certificateRejection: certificate.rejection,
        });
        (req as unknown as Record<symbol, VerifiedAccessToken>)[AUTH] = verified;
        (req as unknown as { auth: VerifiedAccessToken }).auth = verified;
      };
      run().then(() => next(), (error: unknown) => {
        if (error instanceof AccessTokenRejected) {
          options.onRejected?.(req, error);
          send(res, error.status, { 'WWW-Authenticate': challenge(error) },
            error.code === undefined ? undefined : { error: error.code, error_description: error.description });
        } else if (error instanceof IntrospectionUnavailable || error instanceof JwksUnavailable) {
          send(res, 503, { 'Retry-After': '5' }, { error: 'temporarily_unavailable', error_description: 'the access token cannot be checked right now' });
        } else next(error);
      });
    };
  };
}
