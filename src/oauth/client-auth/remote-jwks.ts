import type { JSONWebKeySet } from 'jose';
import { guardedFetch, type Resolver } from '../../shared/guarded-fetch.ts';

export class JwksUnavailable extends Error {}

export type RemoteJwksOptions = {
  timeoutMs: number;
  ttlMs: number;
  cooldownMs: number;
  maxBytes: number;
  /** ALLOW_INSECURE_JWKS_URI: http:// and loopback or private addresses (development only). */
  allowInsecure: boolean;
  now?: () => number;
  /** DNS resolution (node:dns lookup by default). */
  resolve?: Resolver;
};

/**
 * Fetches and caches clients' jwks_uri documents (RFC 7591 §2): a bounded request (timeout, size
 * cut off while streaming, no redirects, public addresses only, checked at connect time), kept for
 * ttlMs, and refetched early (a key rotation on the client's side) at most once per cooldownMs, so
 * assertions with random kids cannot make us hammer the client's server.
 */
export function createRemoteJwksCache(opts: RemoteJwksOptions) {
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { jwks: JSONWebKeySet; fetchedAt: number }>();
  /** The fetch under way per uri: concurrent requests (random kids arriving together) share it, not one each. */
  const inFlight = new Map<string, Promise<JSONWebKeySet>>();

  function fetchShared(uri: string): Promise<JSONWebKeySet> {
    let pending = inFlight.get(uri);
    if (!pending) {
      pending = fetchJwks(uri).finally(() => inFlight.delete(uri));
      inFlight.set(uri, pending);
    }
    return pending;
  }

  async function fetchJwks(uri: string): Promise<JSONWebKeySet> {
    let text: string;
    try {
      text = await guardedFetch(uri, {
        timeoutMs: opts.timeoutMs,
        maxBytes: opts.maxBytes,
        allowInsecure: opts.allowInsecure,
        accept: 'application/jwk-set+json, application/json',
        ...(opts.resolve && { resolve: opts.resolve }),
      });
    } catch (error) {
      throw new JwksUnavailable(`jwks_uri: ${error instanceof Error ? error.message : 'could not be fetched'}`, { cause: error });
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new JwksUnavailable('jwks_uri did not return JSON');
    }
    if (!body || typeof body !== 'object' || !Array.isArray((body as JSONWebKeySet).keys)) throw new JwksUnavailable('jwks_uri did not return a JWK Set');
    const jwks = { keys: (body as JSONWebKeySet).keys.filter((k) => !('d' in k) && k.kty !== 'oct') };
    cache.set(uri, { jwks, fetchedAt: now() });
    return jwks;
  }

  async function get(uri: string): Promise<JSONWebKeySet> {
    const hit = cache.get(uri);
    if (hit && now() - hit.fetchedAt < opts.ttlMs) return hit.jwks;
    return fetchShared(uri);
  }

  /** A fresh copy after an unknown kid, or undefined while the cool-down since the last fetch runs. */
  async function refresh(uri: string): Promise<JSONWebKeySet | undefined> {
    const hit = cache.get(uri);
    if (hit && now() - hit.fetchedAt < opts.cooldownMs) return undefined;
    return fetchShared(uri);
  }

  return {
    get,
    refresh,
    /**
     * The set to verify a JWT whose header names `kid`: the cached one while it holds that kid (or
     * the JWT names none), else a fresh copy (the key owner rotated), else, within the cool-down,
     * the cached one again (so the JWT fails as signed by an unknown key).
     */
    async forKid(uri: string, kid: string | undefined): Promise<JSONWebKeySet> {
      const cached = await get(uri);
      if (kid === undefined || cached.keys.some((k) => k.kid === kid)) return cached;
      return (await refresh(uri)) ?? cached;
    },
  };
}

export type RemoteJwksCache = ReturnType<typeof createRemoteJwksCache>;
