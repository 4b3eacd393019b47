import { Router, type Request, type Response } from 'express';
import type { JwksDocument } from '../../keys/jwks-document.ts';
import { methodNotAllowedJson } from '../middleware/method-not-allowed-json.ts';

export type JwksRouteDeps = { jwks: () => JwksDocument; maxAge: number; now?: () => Date };

/** max-age while a revocation is recent: caches that refetch pick up the shrunken set quickly. */
const AFTER_REVOCATION_MAX_AGE = 60;

/**
 * Up to 10% less than the configured max-age, chosen per response, so a fleet of verifiers that
 * fetched together does not expire and refetch in step.
 */
function cacheControl(maxAge: number): string {
  const jittered = Math.max(1, maxAge - Math.floor(Math.random() * Math.ceil(maxAge * 0.1)));
  return `public, max-age=${jittered}, stale-while-revalidate=${maxAge}, stale-if-error=${maxAge * 4}`;
}

/** RFC 9110 §13.1.2: If-None-Match is a list of entity tags, or "*". */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}

/**
 * The JWKS, built for caches: a body rebuilt only when the key set changes, a strong ETag with
 * 304 on If-None-Match, and a max-age shorter than the pre-publication lead so a cache always
 * holds the next key before it signs; stale-while-revalidate and stale-if-error keep verifiers
 * working through a refetch or an outage of ours.
 */
export function createJwksRouter({ jwks, maxAge, now = () => new Date() }: JwksRouteDeps): Router {
  const router = Router();
  function serve(req: Request, res: Response): void {
    const doc = jwks();
    const recentRevocation = doc.shortCacheUntil !== undefined && doc.shortCacheUntil > now();
    res.setHeader('Cache-Control', cacheControl(recentRevocation ? Math.min(maxAge, AFTER_REVOCATION_MAX_AGE) : maxAge));
    res.setHeader('ETag', doc.etag);
    res.setHeader('Access-Control-Allow-Origin', '*');
    if (matchesEtag(req.get('if-none-match'), doc.etag)) {
      res.status(304).end();
      return;
    }
    res.type('application/jwk-set+json').send(doc.body);
  }
  router.get('/.well-known/jwks.json', serve);
  router.all('/.well-known/jwks.json', methodNotAllowedJson('GET, HEAD'));
  return router;
}
