import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Store } from 'express-rate-limit';
import { createAddressLimiter } from './address-limiter.ts';
import { isBasicAuthorization } from '../../oauth/client-auth/client-secret-basic.ts';
import { readPresentedCredentials, type PresentedCredentials } from '../../oauth/client-auth/presented-credentials.ts';
import { MethodNotAllowed, OAuthError } from '../../oauth/errors.ts';
import type { IntrospectionEndpoint } from '../../oauth/introspection-endpoint.ts';
import type { Refuse } from '../../oauth/refusal.ts';
import type { RevocationEndpoint } from '../../oauth/revocation-endpoint.ts';
import type { CertificateEvidence, TokenRequest } from '../../oauth/token-request.ts';
import { INTROSPECTION_JWT_MEDIA_TYPE } from '../../tokens/introspection-response-signer.ts';
import { requestContext } from '../middleware/request-context.ts';
import { sendOAuthError } from './oauth-error-response.ts';
import { parseTokenRequestBody } from './parse-token-request.ts';
import { readBody } from './read-body.ts';

export type TokenManagementRouteDeps = {
  introspection: IntrospectionEndpoint;
  revocation: RevocationEndpoint;
  /** The per-address limiter's counter store: the same budget as POST /token. */
  addressLimitStore: Store;
  readCertificate: (req: Request) => CertificateEvidence;
  limits: { tokenPerAddress: number };
  realm: string;
};

/** A token and a client assertion fit many times over. */
const BODY_LIMIT = 64 * 1024;
/** Neither endpoint has a parameter that may repeat (RFC 7662 §2.1, RFC 7009 §2.1). */
const NO_REPEATS: ReadonlySet<string> = new Set();


function writeJson(res: Response, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'Cache-Control': 'no-store',
    Pragma: 'no-cache',
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(json),
  });
  res.end(json);
}

/**
 * POST /introspect (RFC 7662, RFC 9701) and POST /revoke (RFC 7009) over HTTP, read exactly as
 * POST /token is: the per-address limit before the body, the body strictly parsed, the client's
 * credentials parsed once; every refusal goes through the endpoint's refuse() (audited, RFC 6749 §5.2).
 */
export function createTokenManagementRouter(deps: TokenManagementRouteDeps): Router {
  const router = Router();
  const byAddress = createAddressLimiter(deps.addressLimitStore, deps.limits.tokenPerAddress);

  function send(req: Request, res: Response, error: OAuthError): void {
    sendOAuthError(res, error, { basicAttempted: isBasicAuthorization(req.get('authorization')), realm: deps.realm });
  }

  async function readRequest(req: Request, res: Response): Promise<{ tokenRequest: TokenRequest; credentials: PresentedCredentials }> {
    let evidence: CertificateEvidence | undefined;
    const body = await readBody(req, BODY_LIMIT);
    const tokenRequest: TokenRequest = {
      params: parseTokenRequestBody(req, body, NO_REPEATS),
      authorization: req.get('authorization'),
      context: requestContext(req, res),
      certificate: () => (evidence ??= deps.readCertificate(req)),
      // A DPoP proof binds a token request; here it would prove nothing, so it is not read.
      dpop: undefined,
    };
    const credentials = readPresentedCredentials(tokenRequest);
    res.locals.credentials = credentials;
    return { tokenRequest, credentials };
  }

  async function introspect(req: Request, res: Response): Promise<void> {
    const { tokenRequest, credentials } = await readRequest(req, res);
    // RFC 9701 §4: the JWT response only when the caller asks for it; JSON is preferred when both are acceptable.
    const format = req.get('accept') !== undefined && req.accepts(['application/json', INTROSPECTION_JWT_MEDIA_TYPE]) === INTROSPECTION_JWT_MEDIA_TYPE ? 'jwt' : 'json';
    const outcome = await deps.introspection.handle(tokenRequest, credentials, format);
    if (!outcome.ok) return send(req, res, outcome.error);
    if (outcome.format === 'json') return writeJson(res, 200, outcome.body);
    res.writeHead(200, {
      'Cache-Control': 'no-store',
      Pragma: 'no-cache',
      'Content-Type': INTROSPECTION_JWT_MEDIA_TYPE,
      'Content-Length': Buffer.byteLength(outcome.jwt),
    });
    res.end(outcome.jwt);
  }

  async function revoke(req: Request, res: Response): Promise<void> {
    const { tokenRequest, credentials } = await readRequest(req, res);
    const outcome = await deps.revocation.handle(tokenRequest, credentials);
    if (!outcome.ok) return send(req, res, outcome.error);
    // RFC 7009 §2.2: 200, and the client ignores the body; none is sent.
    res.writeHead(200, { 'Cache-Control': 'no-store', Pragma: 'no-cache', 'Content-Length': 0 });
    res.end();
  }

  /** For the audit record of an early refusal: the client the Authorization header names, if any. */
  function headerCredentials(req: Request, res: Response): PresentedCredentials | undefined {
    if (!isBasicAuthorization(req.get('authorization'))) return undefined;
    return readPresentedCredentials({
      params: new Map(), authorization: req.get('authorization'), context: requestContext(req, res),
      certificate: () => ({ channel: false, untrustedForwarded: false }), dpop: undefined,
    });
  }

  const routes: Array<[string, (req: Request, res: Response) => Promise<void>, Refuse]> = [
    ['/introspect', introspect, deps.introspection.refuse],
    ['/revoke', revoke, deps.revocation.refuse],
  ];
  for (const [path, handler, refuse] of routes) {
    if (byAddress) router.post(path, byAddress, handler);
    else router.post(path, handler);
    router.all(path, (_req, _res, next) => next(new MethodNotAllowed(`use POST for ${path}`, { reason: 'method_not_allowed' })));
    // Refusals raised before the endpoint ran: the per-address limit, the body, the method.
    router.use(path, async (error: unknown, req: Request, res: Response, _next: NextFunction) => {
      const credentials = (res.locals.credentials as PresentedCredentials | undefined) ?? headerCredentials(req, res);
      // Unread body bytes (a body refused as too large) would be taken for the next request.
      if ((error as { status?: number } | null)?.status === 413) res.setHeader('Connection', 'close');
      send(req, res, await refuse(requestContext(req, res), error, credentials));
    });
  }
  return router;
}
