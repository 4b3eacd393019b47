import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { ipKeyGenerator, rateLimit, type Store } from 'express-rate-limit';
import { parseBasicCredentials, isBasicAuthorization } from '../../oauth/client-auth/client-secret-basic.ts';
import { NUL_CHARACTER, type AuthenticationAttempt } from '../../oauth/client-auth/authenticate-client.ts';
import { InvalidRequest, MethodNotAllowed, OAuthError, RateLimited, RequestTooLarge, TemporarilyUnavailable } from '../../oauth/errors.ts';
import { StorageUnavailable } from '../../shared/errors.ts';
import type { TokenEndpoint } from '../../oauth/token-endpoint.ts';
import type { CertificateEvidence, TokenRequest } from '../../oauth/token-request.ts';
import type { AuthFailureLimiter } from '../middleware/auth-failure-limiter.ts';
import { requestContext } from '../middleware/request-context.ts';
import { sendOAuthError, setNoStore } from './oauth-error-response.ts';
import { parseTokenRequestBody } from './parse-token-request.ts';

export type TokenRouteDeps = {
  endpoint: TokenEndpoint;
  /** A shared counter store per limiter (Redis) or undefined for express-rate-limit's in-process one. */
  rateLimitStore: (name: string) => Store | undefined;
  readCertificate: (req: Request) => CertificateEvidence;
  failures: AuthFailureLimiter;
  limits: { tokenPerClient: number; tokenPerAddress: number };
  realm: string;
};

/** Large enough for any legitimate assertion; larger bodies are refused before they are read in full. */
const BODY_LIMIT = '64kb';
const WINDOW_MS = 60_000;

/**
 * The client id a request names, cheaply and without validating it: for rate-limit keys and the
 * audit of early refusals. An id with a NUL names no client and could not be audited.
 */
function claimedClientId(req: Request, tokenRequest: TokenRequest | undefined): string | undefined {
  const id = namedClientId(req, tokenRequest);
  return id === undefined || NUL_CHARACTER.test(id) ? undefined : id;
}

function namedClientId(req: Request, tokenRequest: TokenRequest | undefined): string | undefined {
  const auth = req.get('authorization');
  if (isBasicAuthorization(auth)) {
    try {
      return parseBasicCredentials(auth!).clientId;
    } catch {
      return undefined;
    }
  }
  const bodyId = tokenRequest?.params.get('client_id')?.[0];
  const assertion = tokenRequest?.params.get('client_assertion')?.[0];
  return bodyId ?? (assertion === undefined ? undefined : assertionSubject(assertion));
}

/** RFC 7523 §3: an assertion names its client in sub; read unverified, only to key rate limits. */
function assertionSubject(jwt: string): string | undefined {
  try {
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown } | null;
    return typeof claims?.sub === 'string' && claims.sub.length <= 255 ? claims.sub : undefined;
  } catch {
    return undefined;
  }
}

function retryAfter(req: Request): number {
  const reset = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
  return reset ? Math.max(1, Math.ceil((reset.getTime() - Date.now()) / 1000)) : 60;
}

function limiter(limit: number, key: (req: Request, res: Response) => string | undefined, reason: 'rate_limited', store: Store | undefined) {
  return rateLimit({
    ...(store && { store }),
    windowMs: WINDOW_MS,
    limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    skip: (req, res) => limit === 0 || key(req, res) === undefined,
    keyGenerator: (req, res) => key(req, res)!,
    handler: (req, _res, next) =>
      next(new RateLimited('too many requests; retry later', { reason, retryAfterSeconds: retryAfter(req) })),
  });
}

export function createTokenRouter(deps: TokenRouteDeps): Router {
  const router = Router();
  const byAddress = limiter(deps.limits.tokenPerAddress, (req) => ipKeyGenerator(req.ip ?? 'unknown'), 'rate_limited', deps.rateLimitStore('token-address'));
  const byClient = limiter(deps.limits.tokenPerClient, (req, res) => {
    const id = claimedClientId(req, res.locals.tokenRequest as TokenRequest | undefined);
    return id === undefined ? undefined : `client ${id}`;
  }, 'rate_limited', deps.rateLimitStore('token-client'));

  function parse(req: Request, res: Response, next: NextFunction): void {
    const tokenRequest: TokenRequest = {
      params: parseTokenRequestBody(req),
      authorization: req.get('authorization'),
      context: requestContext(req, res),
      certificate: deps.readCertificate(req),
      dpop: req.get('dpop'),
    };
    res.locals.tokenRequest = tokenRequest;
    next();
  }

  async function checkLockout(req: Request, res: Response, next: NextFunction): Promise<void> {
    const id = claimedClientId(req, res.locals.tokenRequest as TokenRequest);
    const lockedFor = id === undefined ? undefined : await deps.failures.lockedFor(id, req.ip ?? '');
    if (lockedFor !== undefined) {
      next(new RateLimited('too many failed authentications; retry later', { reason: 'auth_failures_locked', retryAfterSeconds: lockedFor }));
      return;
    }
    next();
  }

  async function issue(_req: Request, res: Response): Promise<void> {
    res.locals.auditedByEndpoint = true;
    const body = await deps.endpoint.handle(res.locals.tokenRequest as TokenRequest);
    setNoStore(res);
    res.status(200).json(body);
  }

  router.post(
    '/token',
    byAddress,
    express.raw({ type: () => true, limit: BODY_LIMIT }),
    parse,
    byClient,
    checkLockout,
    issue,
  );
  router.all('/token', (_req, _res, next) => next(new MethodNotAllowed('use POST for the token endpoint', { reason: 'method_not_allowed' })));

  // The token endpoint's one error path: audit what the endpoint has not, count failures, answer per RFC 6749 §5.2.
  router.use('/token', async (error: unknown, req: Request, res: Response, _next: NextFunction) => {
    let oauthError = toOAuthError(error);
    const tokenRequest = res.locals.tokenRequest as TokenRequest | undefined;
    if (!res.locals.auditedByEndpoint) {
      const clientId = claimedClientId(req, tokenRequest);
      const attempt: AuthenticationAttempt = clientId === undefined ? {} : { clientId };
      oauthError = await deps.endpoint.deny(tokenRequest?.context ?? requestContext(req, res), oauthError, attempt);
    }
    if (oauthError.status === 401) {
      const id = claimedClientId(req, tokenRequest);
      // Counting must not turn a refusal into a 500: a counter store that is down only loses this count.
      if (id !== undefined) await deps.failures.recordFailure(id, req.ip ?? '').catch(() => undefined);
    }
    sendOAuthError(res, oauthError, { basicAttempted: isBasicAuthorization(req.get('authorization')), realm: deps.realm });
  });
  return router;
}

/** Errors raised before the endpoint runs (body reading, routing) in OAuth terms. */
function toOAuthError(error: unknown): OAuthError {
  if (error instanceof OAuthError) return error;
  const type = (error as { type?: string } | null)?.type;
  if (error instanceof StorageUnavailable) {
    return new TemporarilyUnavailable('the service is temporarily unable to check this request; retry later', { reason: 'storage_unavailable', cause: error, retryAfterSeconds: 5 });
  }
  if (type === 'entity.too.large') return new RequestTooLarge('the request body is too large', { reason: 'body_too_large' });
  if (typeof type === 'string') return new InvalidRequest('the request body could not be read', { reason: 'malformed_request', cause: error });
  throw error;
}
