import type { NextFunction, Request, Response } from 'express';
import { Unauthenticated } from '../../shared/errors.ts';
import type { AdminScope, AdminTokenVerifier } from '../../tokens/admin-token-verifier.ts';
import { requestContext } from '../middleware/request-context.ts';
import type { AdminContext } from '../../clients/client-service.ts';

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*)$/i;

/** RFC 6750 §2.1 bearer token with the given admin scope; sets res.locals.admin. */
export function requireAdminScope(verify: AdminTokenVerifier, scope: AdminScope) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const token = BEARER.exec(req.get('authorization') ?? '')?.[1];
    if (!token) throw new Unauthenticated('a bearer token is required', 'no_token');
    const { clientId } = await verify(token, scope);
    res.locals.admin = { ...requestContext(req, res), actor: clientId } satisfies AdminContext;
    next();
  };
}

export function adminContext(res: Response): AdminContext {
  return res.locals.admin as AdminContext;
}
