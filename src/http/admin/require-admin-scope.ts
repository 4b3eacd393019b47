import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import type { AdminContext } from '../../clients/client-service.ts';
import type { CertificateEvidence } from '../../oauth/token-request.ts';
import { Unauthenticated } from '../../shared/errors.ts';
import { certificateThumbprint } from '../../tls/client-certificate.ts';
import type { AdminScope, AdminTokenPresentation, AdminTokenVerifier } from '../../tokens/admin-token-verifier.ts';
import { requestContext } from '../middleware/request-context.ts';

/** RFC 6750 §2.1 Bearer or RFC 9449 §7.1 DPoP, token68 credentials; the scheme is case-insensitive (RFC 9110 §11.1). */
const CREDENTIALS = /^(Bearer|DPoP) +([A-Za-z0-9._~+/-]+=*)$/i;

export type AdminAuthDeps = {
  verify: AdminTokenVerifier;
  readCertificate: (req: IncomingMessage) => CertificateEvidence;
  /** The public base URL callers address us by: htu = ISSUER + path (RFC 9449 §4.3). */
  issuer: string;
};

export type RequireAdminScope = (scope: AdminScope) => (req: Request, res: Response, next: NextFunction) => Promise<void>;

function presentation(req: Request, deps: AdminAuthDeps): AdminTokenPresentation {
  const match = CREDENTIALS.exec(req.get('authorization') ?? '');
  if (!match) throw new Unauthenticated('an access token is required (Authorization: Bearer or DPoP)', 'no_token');
  const evidence = deps.readCertificate(req);
  return {
    scheme: match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer',
    token: match[2]!,
    dpopProofs: req.headersDistinct.dpop ?? [],
    method: req.method,
    url: `${deps.issuer}${req.originalUrl.split('?')[0]}`,
    certificateThumbprint: evidence.certificate && !evidence.rejection ? certificateThumbprint(evidence.certificate) : undefined,
  };
}

/** The admin token with the given scope, presented with what it is bound to; sets res.locals.admin. */
export function createRequireAdminScope(deps: AdminAuthDeps): RequireAdminScope {
  return (scope) => async (req, res, next) => {
    const admin = await deps.verify(presentation(req, deps), scope);
    res.locals.admin = { ...requestContext(req, res), actor: admin.clientId, actorScopes: admin.scopes } satisfies AdminContext;
    next();
  };
}

export function adminContext(res: Response): AdminContext {
  return res.locals.admin as AdminContext;
}
