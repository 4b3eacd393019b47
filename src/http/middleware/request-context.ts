import type { Request, Response } from 'express';
import type { RequestContext } from '../../audit/audit-event.ts';

/** The request-scoped facts every audit record carries: the id request-basics.ts gave it and the source address. */
export function requestContext(req: Request, res: Response): RequestContext {
  return { requestId: res.locals.requestId as string, sourceAddress: req.ip };
}
