import { createHash } from 'node:crypto';
import type { ClientAuth } from './client-auth.js';
import { createDpopSigner, type DpopKey } from './dpop-signer.js';
import { TokenRequestFailed } from './errors.js';
import { createTransport, type TransportOptions } from './http-transport.js';
import { createTokenEndpoint, type AccessToken } from './token-endpoint.js';

export type { AccessToken };

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

export type TokenSourceOptions = TransportOptions & {
  /** The token endpoint; or give `issuer` and it is discovered (RFC 8414). */
  tokenUrl?: string;
  issuer?: string;
  clientId: string;
  auth: ClientAuth;
  /** The default audience (RFC 8707 resource / audience parameter) and scope of getToken(). */
  audience?: string | readonly string[];
  scope?: string | readonly string[];
  /** Bind tokens to this key (RFC 9449). */
  dpop?: DpopKey;
  /** Refresh this long before expiry (at most half the lifetime). Default 60 s. */
  refreshBeforeSeconds?: number;
  /** Retries after a 429, a 503 or a network failure. Default 2. */
  maxRetries?: number;
  /** A Retry-After longer than this is not waited for: the call fails at once. Default 30 s. */
  maxRetryDelaySeconds?: number;
  /** The private_key_jwt `aud`. Default: the discovered issuer, else `issuer`, else the token URL. */
  assertionAudience?: string;
  /** At most this many exchanged tokens are cached. Default 1000. */
  maxCachedExchanges?: number;
  /** Milliseconds since the epoch (tests move it). Default Date.now. */
  now?: () => number;
};

export type TokenRequest = { audience?: string | readonly string[]; scope?: string | readonly string[] };

/** RFC 8693 §2.1 parameters of an exchange for the next hop. */
export type TokenExchangeRequest = TokenRequest & {
  subjectToken: string;
  /** Default urn:ietf:params:oauth:token-type:access_token. */
  subjectTokenType?: string;
  actorToken?: string;
  /** Default urn:ietf:params:oauth:token-type:access_token (required by §2.1 when actor_token is sent). */
  actorTokenType?: string;
  resource?: string | readonly string[];
  requestedTokenType?: string;
};

type Entry = { token?: AccessToken; refreshAt: number; inflight?: Promise<AccessToken>; notBefore: number };

const list = (value: string | readonly string[] | undefined): string[] =>
  value === undefined ? [] : typeof value === 'string' ? value.split(' ').filter(Boolean) : [...value];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Access tokens for a calling service, one cache entry per (audience, scope): a token is reused
 * until shortly before it expires, refreshed in the background while still valid, and fetched by
 * one request however many callers ask at once. A 429 or 503 is retried after its Retry-After (or
 * an exponential delay); a longer Retry-After fails the call and holds further requests off until
 * then, while a still-valid token keeps being served.
 */
export function createTokenSource(options: TokenSourceOptions) {
  if (!options.tokenUrl && !options.issuer) throw new TypeError('createTokenSource needs tokenUrl or issuer');
  if ((options.auth.method === 'tls_client_auth' || options.auth.method === 'self_signed_tls_client_auth') && !options.agent && options.dispatcher === undefined) {
    throw new TypeError(`${options.auth.method} needs an agent or dispatcher holding the client certificate`);
  }
  const now = options.now ?? Date.now;
  const transport = createTransport(options);
  const dpop = options.dpop && createDpopSigner(options.dpop, now);
  const refreshBefore = (options.refreshBeforeSeconds ?? 60) * 1000;
  const maxRetries = options.maxRetries ?? 2;
  const maxRetryDelay = (options.maxRetryDelaySeconds ?? 30) * 1000;
  const maxExchanges = options.maxCachedExchanges ?? 1000;
  const entries = new Map<string, Entry>();
  const exchanges = new Map<string, Entry>();
  const post = createTokenEndpoint({
    tokenUrl: options.tokenUrl, issuer: options.issuer, assertionAudience: options.assertionAudience,
    clientId: options.clientId, auth: options.auth, transport, dpop, now,
  });

  /** post() with backoff: Retry-After when given, else 0.5 s, 1 s, 2 s… with jitter. */
  async function postWithBackoff(fields: Record<string, string | string[]>, entry: Entry): Promise<AccessToken> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await post(fields);
      } catch (error) {
        if (!(error instanceof TokenRequestFailed) || error.retryAfterSeconds === undefined) throw error;
        const delay = error.retryAfterSeconds > 0 ? error.retryAfterSeconds * 1000 : 500 * 2 ** attempt * (0.75 + Math.random() / 2);
        if (attempt >= maxRetries || delay > maxRetryDelay) {
          entry.notBefore = now() + delay;
          throw error;
        }
        await sleep(delay);
      }
    }
  }

  function lookup(map: Map<string, Entry>, key: string, limit: number): Entry {
    let entry = map.get(key);
    if (!entry) {
      if (map.size >= limit) {
        for (const [k, e] of map) if (!e.inflight && (!e.token || e.token.expiresAt.getTime() <= now())) map.delete(k);
        if (map.size >= limit) map.delete(map.keys().next().value!);
      }
      map.set(key, (entry = { refreshAt: 0, notBefore: 0 }));
    }
    return entry;
  }

  /** The cached token, refreshed in the background once due, or one shared request when none is usable. */
  function cached(entry: Entry, fields: Record<string, string | string[]>): Promise<AccessToken> {
    const at = now();
    const valid = entry.token && entry.token.expiresAt.getTime() > at;
    if (valid && at < entry.refreshAt) return Promise.resolve(entry.token!);
    if (at < entry.notBefore) {
      if (valid) return Promise.resolve(entry.token!);
      return Promise.reject(new TokenRequestFailed('the token endpoint asked us to wait before asking again', { retryAfterSeconds: Math.ceil((entry.notBefore - at) / 1000) }));
    }
    entry.inflight ??= postWithBackoff(fields, entry).then((token) => {
      const lifetime = token.expiresAt.getTime() - now();
      entry.token = token;
      entry.refreshAt = token.expiresAt.getTime() - Math.min(refreshBefore, lifetime / 2);
      return token;
    }, (error: unknown) => {
      // While a valid token is held, a failed refresh is tried again no sooner than 5 s later, so
      // the calls of the refresh window do not each send a request the server refuses.
      if (entry.token && entry.token.expiresAt.getTime() > now()) entry.notBefore = Math.max(entry.notBefore, now() + 5000);
      throw error;
    }).finally(() => {
      entry.inflight = undefined;
    });
    if (valid) {
      // Still valid: serve it, and let a failed refresh pass quietly (see the rejection above).
      entry.inflight.catch(() => undefined);
      return Promise.resolve(entry.token!);
    }
    return entry.inflight;
  }

  function targetFields(request: TokenRequest): Record<string, string | string[]> {
    const audience = list(request.audience ?? options.audience);
    const scope = list(request.scope ?? options.scope);
    return { ...(audience.length && { audience }), ...(scope.length && { scope: scope.join(' ') }) };
  }

  const cacheKey = (fields: Record<string, string | string[]>) =>
    JSON.stringify(Object.entries(fields).map(([k, v]) => [k, typeof v === 'string' ? v.split(' ').sort() : [...v].sort()]).sort());

  /** A client-credentials token for the audience and scope (defaults from the options). */
  function getToken(request: TokenRequest = {}): Promise<AccessToken> {
    const fields = targetFields(request);
    return cached(lookup(entries, cacheKey(fields), Number.POSITIVE_INFINITY), { grant_type: 'client_credentials', ...fields });
  }

  /**
   * RFC 8693 token exchange for the next hop: what this service received (subject_token, and its
   * own token as actor_token when the server wants one) for a token for `audience`. Cached per
   * subject token (by hash), actor, audience and scope, never beyond the token's own expiry.
   */
  function exchange(request: TokenExchangeRequest): Promise<AccessToken> {
    const fields: Record<string, string | string[]> = {
      grant_type: TOKEN_EXCHANGE_GRANT,
      subject_token: request.subjectToken,
      subject_token_type: request.subjectTokenType ?? ACCESS_TOKEN_TYPE,
      ...targetFields({ audience: request.audience ?? [], scope: request.scope ?? [] }),
    };
    if (request.actorToken !== undefined) {
      fields.actor_token = request.actorToken;
      fields.actor_token_type = request.actorTokenType ?? ACCESS_TOKEN_TYPE;
    }
    const resource = list(request.resource);
    if (resource.length) fields.resource = resource;
    if (request.requestedTokenType !== undefined) fields.requested_token_type = request.requestedTokenType;
    const hashed = Object.fromEntries(Object.entries(fields).map(([k, v]) =>
      [k, k === 'subject_token' || k === 'actor_token' ? createHash('sha256').update(String(v)).digest('base64url') : v]));
    return cached(lookup(exchanges, cacheKey(hashed), maxExchanges), fields);
  }

  /**
   * The headers for one request to a target: `Authorization: Bearer|DPoP <token>` and, for a
   * DPoP-bound token, a proof for this method and URL carrying the token's hash (RFC 9449 §7.1).
   */
  async function headersFor(target: { method: string; url: string | URL; nonce?: string } & TokenRequest, token?: AccessToken): Promise<Record<string, string>> {
    const t = token ?? await getToken(target);
    if (t.tokenType === 'Bearer') return { authorization: `Bearer ${t.accessToken}` };
    const proof = await dpop!({ method: target.method, url: target.url, accessToken: t.accessToken, ...(target.nonce !== undefined && { nonce: target.nonce }) });
    return { authorization: `DPoP ${t.accessToken}`, dpop: proof };
  }

  /** Forget cached tokens (all, or one audience and scope): say, after a target answered invalid_token. */
  function invalidate(request?: TokenRequest): void {
    if (!request) {
      entries.clear();
      exchanges.clear();
      return;
    }
    entries.delete(cacheKey(targetFields(request)));
  }

  return { getToken, exchange, headersFor, invalidate };
}

export type TokenSource = ReturnType<typeof createTokenSource>;
