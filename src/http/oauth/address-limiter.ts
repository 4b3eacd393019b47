import type { Request, RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit, type Store } from 'express-rate-limit';
import { RateLimited } from '../../oauth/errors.ts';

const WINDOW_MS = 60_000;

function retryAfter(req: Request): number {
  const reset = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
  return reset ? Math.max(1, Math.ceil((reset.getTime() - Date.now()) / 1000)) : 60;
}

/**
 * The per-address limit of the client-authenticated endpoints (/token, /introspect, /revoke): counted
 * before the body is read, so spraying from one address is bounded (RL-02); a refusal goes to the
 * route's error path as RateLimited. Not built when the limit is off (0).
 */
export function createAddressLimiter(store: Store, perMinute: number): RequestHandler | undefined {
  if (perMinute === 0) return undefined;
  return rateLimit({
    store,
    windowMs: WINDOW_MS,
    limit: perMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: (req) => ipKeyGenerator(req.ip ?? 'unknown'),
    handler: (req, _res, next) => next(new RateLimited('too many requests; retry later', { reason: 'rate_limited', retryAfterSeconds: retryAfter(req) })),
  });
}
