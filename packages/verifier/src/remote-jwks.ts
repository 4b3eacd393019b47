import { createLocalJWKSet, errors as joseErrors, type JSONWebKeySet, type JWK, type JWTVerifyGetKey } from 'jose';
import { freshnessSeconds } from './cache-control.js';
import { JwksUnavailable } from './errors.js';
import { readLimited } from './read-limited.js';

export type RemoteJwksOptions = {
  /** Abort a fetch after this long. Default 5 s. */
  timeoutMs?: number;
  /** Refuse a response body larger than this. Default 256 KiB. */
  maxBytes?: number;
  /** Refuse a set with more usable keys than this. Default 100. */
  maxKeys?: number;
  /** Bounds applied to the issuer's Cache-Control max-age. Default 5 s to 1 day. */
  minCacheSeconds?: number;
  maxCacheSeconds?: number;
  /** Used when the response carries no max-age. Default 300 s. */
  defaultCacheSeconds?: number;
  /** At most one fetch per cooldown for an unknown kid or after a failed fetch. Default 30 s. */
  cooldownSeconds?: number;
  /** Told about every failed fetch, also the ones survived with the last good set. */
  onFetchError?: (error: Error) => void;
  /** Milliseconds since the epoch (tests move it). Default Date.now. */
  now?: () => number;
  fetch?: typeof fetch;
};

/** A key set that verifies tokens: a function for jose's jwtVerify, plus what an operator may ask. */
export type JwksSource = JWTVerifyGetKey & {
  /** The kids of the set now held. */
  kids(): string[];
  /** Fetch now (single flight), whatever the cache says. */
  refresh(): Promise<void>;
  /** How many fetches were started. */
  readonly fetches: number;
};

type HeldSet = { verifyWith: JWTVerifyGetKey; kids: string[]; freshUntil: number; etag: string | undefined };

/** Members that only private or symmetric keys have (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'];
const ASYMMETRIC_TYPES = new Set(['RSA', 'EC', 'OKP']);

/** Keys that can verify a signature: asymmetric, public only, not marked for encryption. */
function usableKeys(document: unknown): JWK[] {
  if (typeof document !== 'object' || document === null || !Array.isArray((document as JSONWebKeySet).keys)) {
    throw new Error('not a JWK Set: no "keys" array');
  }
  return (document as JSONWebKeySet).keys.filter((key): key is JWK => typeof key === 'object' && key !== null
    && ASYMMETRIC_TYPES.has(String(key.kty))
    && (key.use === undefined || key.use === 'sig')
    && !PRIVATE_MEMBERS.some((member) => member in key));
}

/**
 * The issuer's JWKS, cached as the issuer asks: for its Cache-Control max-age (bounded), revalidated
 * with If-None-Match. A kid not in the set triggers one refetch per cooldown (the issuer publishes a
 * key before it signs with it, so an unknown kid is either a rotation we missed or a forgery; the
 * cooldown keeps forgeries from turning into a flood of fetches). A failed or refused fetch keeps the
 * last good set, so an outage of the issuer does not become an outage of every service it serves.
 */
export function createRemoteJwks(url: string | URL, options: RemoteJwksOptions = {}): JwksSource {
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxBytes = options.maxBytes ?? 256 * 1024;
  const maxKeys = options.maxKeys ?? 100;
  const minCache = options.minCacheSeconds ?? 5;
  const maxCache = options.maxCacheSeconds ?? 86_400;
  const defaultCache = options.defaultCacheSeconds ?? 300;
  const cooldownMs = (options.cooldownSeconds ?? 30) * 1000;
  const now = options.now ?? Date.now;
  const fetchImpl = options.fetch ?? fetch;
  const target = new URL(url);
  if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new TypeError('the JWKS URL must be http(s)');

  let held: HeldSet | undefined;
  let lastAttempt = Number.NEGATIVE_INFINITY;
  let lastFailure = Number.NEGATIVE_INFINITY;
  let inflight: Promise<void> | undefined;
  let fetches = 0;

  const lifetime = (response: Response) => {
    const seconds = freshnessSeconds(response.headers.get('cache-control'), response.headers.get('age')) ?? defaultCache;
    return Math.min(maxCache, Math.max(minCache, seconds)) * 1000;
  };

  async function fetchOnce(): Promise<void> {
    fetches++;
    lastAttempt = now();
    const headers: Record<string, string> = { accept: 'application/jwk-set+json, application/json' };
    if (held?.etag) headers['if-none-match'] = held.etag;
    const response = await fetchImpl(target, { headers, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
    if (response.status === 304 && held) {
      await response.body?.cancel();
      held = { ...held, freshUntil: now() + lifetime(response) };
      return;
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new Error(`the JWKS endpoint answered ${response.status}`);
    }
    const keys = usableKeys(JSON.parse(await readLimited(response, maxBytes)));
    if (keys.length === 0) throw new Error('the JWKS holds no usable signing key');
    if (keys.length > maxKeys) throw new Error(`the JWKS holds ${keys.length} keys, more than the ${maxKeys} accepted`);
    held = {
      verifyWith: createLocalJWKSet({ keys }),
      kids: keys.flatMap((k) => (k.kid === undefined ? [] : [k.kid])),
      freshUntil: now() + lifetime(response),
      etag: response.headers.get('etag') ?? undefined,
    };
  }

  /** One fetch at a time; a failure is reported and survived when a good set is held. */
  function refresh(): Promise<void> {
    inflight ??= fetchOnce()
      .catch((error: unknown) => {
        const failure = error instanceof Error ? error : new Error(String(error));
        lastFailure = now();
        options.onFetchError?.(failure);
        if (!held) throw new JwksUnavailable(`the issuer's keys could not be fetched: ${failure.message}`, { cause: failure });
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  }

  const within = (since: number) => now() - since < cooldownMs;

  const source = async function getKey(header: Parameters<JWTVerifyGetKey>[0], token: Parameters<JWTVerifyGetKey>[1]) {
    if (!held) {
      if (!inflight && within(lastFailure)) throw new JwksUnavailable('the issuer\'s keys could not be fetched recently');
      await refresh();
    } else if (now() >= held.freshUntil && !within(lastFailure)) {
      await refresh();
    }
    try {
      return await held!.verifyWith(header, token);
    } catch (error) {
      // An unknown kid: a rotation missed, or a forgery. One refetch per cooldown, whatever the cause.
      if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw error;
      if (inflight) await inflight;
      else if (within(lastAttempt)) throw error;
      else await refresh();
      return await held!.verifyWith(header, token);
    }
  } as JwksSource;
  Object.defineProperties(source, {
    kids: { value: () => [...(held?.kids ?? [])] },
    refresh: { value: refresh },
    fetches: { get: () => fetches },
  });
  return source;
}
