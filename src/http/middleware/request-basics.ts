import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../../shared/logger.ts';

const INBOUND_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The path without its query string (which may carry credentials), bounded in length. */
function loggedPath(url: string): string {
  const q = url.indexOf('?');
  return (q < 0 ? url : url.slice(0, q)).slice(0, 200);
}

/**
 * The metrics label of a request: the template of the route that answered it (the mount path and
 * the route's own path, `/admin/clients/:client_id`), so neither raw ids nor unknown paths grow the
 * label set; requests no route matched are `other`, unless listed in `routes` (app-level paths).
 */
function routeLabel(req: Request, routes: ReadonlySet<string>): string {
  const route = (req as { route?: { path?: unknown } }).route;
  if (route && typeof route.path === 'string') return `${req.baseUrl}${route.path}`;
  return routes.has(req.path) ? req.path : 'other';
}

export type RequestBasicsOptions = {
  /** Security headers set on every response (security-headers.ts computes helmet's once). */
  headers: ReadonlyArray<readonly [string, string]>;
  logger: Logger;
  /** Records one request's duration under its route and status. */
  observe(route: string, status: number, seconds: number): void;
  /** Paths reported under their own name in metrics; any other is "other". */
  routes: ReadonlySet<string>;
};

/**
 * What every request gets, in one middleware rather than four (each Express layer costs a router
 * step on the token hot path): the security headers, a request id (the caller's X-Request-Id when it
 * is a plain token, so a mesh's trace id carries through, else a fresh UUID), one JSON log line when
 * the response finishes — id, method, path (never the query, headers or body), status, duration —
 * and the duration metric.
 */
export function requestBasics(opts: RequestBasicsOptions) {
  const { headers, logger } = opts;
  return function basics(req: Request, res: Response, next: NextFunction): void {
    for (const [name, value] of headers) res.setHeader(name, value);
    const inbound = req.headers['x-request-id'];
    const id = typeof inbound === 'string' && INBOUND_ID.test(inbound) ? inbound : randomUUID();
    res.locals.requestId = id;
    res.setHeader('X-Request-Id', id);
    const started = performance.now();
    res.once('finish', () => {
      const status = res.statusCode;
      const ms = performance.now() - started;
      opts.observe(routeLabel(req, opts.routes), status, ms / 1000);
      if (!logger.isLevelEnabled('info')) return;
      const path = loggedPath(req.originalUrl);
      const entry = { req: { id, method: req.method, path, remoteAddress: req.ip }, res: { statusCode: status }, responseTime: Math.round(ms) };
      const msg = `${req.method} ${path} ${status}`;
      if (status >= 500) logger.error(entry, msg);
      else logger.info(entry, msg);
    });
    next();
  };
}
