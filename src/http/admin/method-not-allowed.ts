import type { NextFunction, Request, Response } from 'express';

export class AdminMethodNotAllowed extends Error {
  constructor(readonly allow: string) {
    super(`use ${allow}`);
  }
}

/** 405 with the Allow header (RFC 9110 §15.5.6), rendered as a problem by the admin error handler. */
export function methodNotAllowed(allow: string) {
  return (_req: Request, _res: Response, next: NextFunction) => next(new AdminMethodNotAllowed(allow));
}
