import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Store } from 'express-rate-limit';
import { createAddressLimiter } from './address-limiter.ts';
import { isBasicAuthorization } from '../../oauth/client-auth/client-secret-basic.ts';
import { readPresentedCredentials, type PresentedCredentials } from '../../oauth/client-auth/presented-credentials.ts';
import { MethodNotAllowed, OAuthError } from '../../oauth/errors.ts';
import type { TokenEndpoint } from '../../oauth/token-endpoint.ts';
import type { CertificateEvidence, TokenRequest } from '../../oauth/token-request.ts';
import { requestContext } from '../middleware/request-context.ts';
import { sendOAuthError } from './oauth-error-response.ts';
import { parseTokenRequestBody } from './parse-token-request.ts';
import { readBody } from './read-body.ts';

export type TokenRouteDeps = {
  endpoint: TokenEndpoint;
  /** Parameters the grants allow more than once (and as JSON arrays). */
  repeatable: ReadonlySet<string>;
  /** The per-address limiter's counter store (this process, the cluster primary or Redis). */
  addressLimitStore: Store;
  readCertificate: (req: Request) => CertificateEvidence;
  limits: { tokenPerAddress: number };
  realm: string;
};

/** Large enough for any legitimate assertion; larger bodies are refused before they are read in full. */
const BODY_LIMIT = 64 * 1024;

/**
 * POST /token over HTTP: the per-address limit (before the body is read: it bounds spraying from
 * one address, RL-02), the body, then the request parsed once — parameters, credentials, certificate
 * evidence on demand — and handed to the endpoint. Every refusal, whether the endpoint's or this
 * layer's, goes through endpoint.refuse(): counted, audited, mapped once (RFC 6749 §5.2).
 */
export function createTokenRouter(deps: TokenRouteDeps): Router {
  const router = Router();
  // Not built, nor mounted, when the per-address limit is off (0).
  const byAddress = createAddressLimiter(deps.addressLimitStore, deps.limits.tokenPerAddress);

  function send(req: Request, res: Response, error: OAuthError): void {
    sendOAuthError(res, error, { basicAttempted: isBasicAuthorization(req.get('authorization')), realm: deps.realm });
  }

  async function issue(req: Request, res: Response): Promise<void> {
    let evidence: CertificateEvidence | undefined;
    const body = await readBody(req, BODY_LIMIT);
    const tokenRequest: TokenRequest = {
      params: parseTokenRequestBody(req, body, deps.repeatable),
      authorization: req.get('authorization'),
      context: requestContext(req, res),
      certificate: () => (evidence ??= deps.readCertificate(req)),
      dpop: req.get('dpop'),
    };
    const credentials = readPresentedCredentials(tokenRequest);
    res.locals.credentials = credentials;
    const outcome = await deps.endpoint.handle(tokenRequest, credentials);
    // Answered meanwhile: a shutdown that reached SHUTDOWN_TIMEOUT sent this request its 503.
    if (res.headersSent) return;
    if (!outcome.ok) {
      send(req, res, outcome.error);
      return;
    }
    // Written directly: Express's res.json does content negotiation and ETag work a token answer never needs.
    const json = JSON.stringify(outcome.body);
    res.writeHead(200, {
      'Cache-Control': 'no-store',
      Pragma: 'no-cache',
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(json),
    });
    res.end(json);
  }

  if (byAddress) router.post('/token', byAddress, issue);
  else router.post('/token', issue);
  router.all('/token', (_req, _res, next) => next(new MethodNotAllowed('use POST for the token endpoint', { reason: 'method_not_allowed' })));

  /** For the audit record of an early refusal: the client the Authorization header names, if any. */
  function headerCredentials(req: Request, res: Response): PresentedCredentials | undefined {
    if (!isBasicAuthorization(req.get('authorization'))) return undefined;
    return readPresentedCredentials({
      params: new Map(), authorization: req.get('authorization'), context: requestContext(req, res),
      certificate: () => ({ channel: false, untrustedForwarded: false }), dpop: undefined,
    });
  }

  // Refusals raised before the endpoint ran: the per-address limit, the body, the method.
  router.use('/token', async (error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const credentials = (res.locals.credentials as PresentedCredentials | undefined) ?? headerCredentials(req, res);
    // Unread body bytes (a body refused as too large) would be taken for the next request.
    if ((error as { status?: number } | null)?.status === 413) res.setHeader('Connection', 'close');
    const refused = await deps.endpoint.refuse(requestContext(req, res), error, credentials);
    send(req, res, refused);
  });
  return router;
}
