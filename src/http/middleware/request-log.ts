import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../../shared/logger.ts';

/** The path without its query string (which may carry credentials), bounded in length. */
export function loggedPath(url: string): string {
  const q = url.indexOf('?');
  return (q < 0 ? url : url.slice(0, q)).slice(0, 200);
}

/**
 * One JSON line per request when its response finishes: request id, method, path (never the query,
 * headers or body), status and duration — the fields pino-http wrote, without its per-request child
 * logger and serializers (most of its cost on the token hot path). Nothing is built when the level
 * is off.
 */
export function requestLog(logger: Logger) {
  return function logRequest(req: Request, res: Response, next: NextFunction): void {
    if (!logger.isLevelEnabled('info')) {
      next();
      return;
    }
    const started = performance.now();
    res.once('finish', () => {
      const path = loggedPath(req.originalUrl);
      const status = res.statusCode;
      const entry = {
        req: { id: res.locals.requestId as string, method: req.method, path, remoteAddress: req.ip },
        res: { statusCode: status },
        responseTime: Math.round(performance.now() - started),
      };
      const msg = `${req.method} ${path} ${status}`;
      if (status >= 500) logger.error(entry, msg);
      else logger.info(entry, msg);
    });
    next();
  };
}
