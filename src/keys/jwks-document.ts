import { createHash } from 'node:crypto';
import type { JWK } from 'jose';
import type { SigningKeyRecord } from './signing-key.ts';

/**
 * A JWKS body and its strong ETag, built once per key-set change and served as is.
 * `shortCacheUntil` is set after a revocation: until then caches are told to refetch sooner.
 */
export type JwksDocument = { body: string; etag: string; kids: ReadonlySet<string>; shortCacheUntil: Date | undefined };

/** The members RFC 7517/7518/8037 define as public; anything else never leaves the service. */
const PUBLIC_MEMBERS = ['kty', 'kid', 'use', 'alg', 'crv', 'n', 'e', 'x', 'y'] as const;

export function publicOnly(jwk: JWK): JWK {
  return Object.fromEntries(PUBLIC_MEMBERS.filter((m) => jwk[m] !== undefined).map((m) => [m, jwk[m]])) as JWK;
}

export function buildJwksDocument(published: readonly SigningKeyRecord[], shortCacheUntil?: Date): JwksDocument {
  const body = JSON.stringify({ keys: published.map((k) => publicOnly(k.publicJwk)) });
  const etag = `"${createHash('sha256').update(body).digest('base64url')}"`;
  return { body, etag, kids: new Set(published.map((k) => k.kid)), shortCacheUntil };
}
