import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { RequestContext } from '../../audit/audit-event.ts';

const INBOUND_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * A request id on every request, log line and audit record: the caller's X-Request-Id when it is
 * a plain token (so a mesh's trace id carries through), otherwise a fresh UUID.
 */
export function requestId(req: Request, res: Response, next: NextFunction): void {
  const inbound = req.get('x-request-id');
  const id = inbound && INBOUND_ID.test(inbound) ? inbound : randomUUID();
  res.locals.requestId = id;
  res.setHeader('X-Request-Id', id);
  next();
}

export function requestContext(req: Request, res: Response): RequestContext {
  return { requestId: res.locals.requestId as string, sourceAddress: req.ip };
}
