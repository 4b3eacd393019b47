// Client assertions (RFC 7523 §2.2, §3) and DPoP proofs (RFC 9449 §4.2) for tests, well-formed or not.
//
//   const k1 = await createSigningKey('RS256', 'k1');
//   const jwt = await signAssertion({ clientId: 'c-pkj', audience: issuer, key: k1 });
//   const noJti = await signAssertion({ clientId: 'c-pkj', audience: issuer, key: k1, claims: { jti: undefined } });
//   const forged = compactJws({ alg: 'none' }, defaultClaims('c-pkj', issuer), '');
//
// A header field or claim set to `undefined` in `header` / `claims` is removed; any other value
// replaces the default (any JSON value, so wrong types can be sent on purpose).

import { createHmac, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, CompactSign, exportJWK, generateKeyPair, type CryptoKey, type JWK, type KeyObject } from 'jose';

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** draft-ietf-oauth-rfc7523bis explicit typing. */
export const CLIENT_ASSERTION_TYP = 'client-authentication+jwt';

/** A key pair as a client holds it: the private half signs, the public JWK is registered. */
export type SigningKey = { kid: string; alg: string; privateKey: CryptoKey; publicKey: CryptoKey; publicJwk: JWK; privateJwk: JWK };

/** A fresh key for `alg` (RSA keys are 2048-bit; ES256 uses P-256). */
export async function createSigningKey(alg = 'RS256', kid: string = randomUUID()): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg };
  return { kid, alg, privateKey, publicKey, publicJwk, privateJwk };
}

export const epochSeconds = (date: Date = new Date()): number => Math.floor(date.getTime() / 1000);

export type Fields = Record<string, unknown>;

/** `base` with `changes` laid over it; a change to `undefined` removes the field. */
function merge(base: Fields, changes: Fields = {}): Fields {
  const merged: Fields = { ...base, ...changes };
  for (const [name, value] of Object.entries(changes)) if (value === undefined) delete merged[name];
  return merged;
}

/** The default claims of an assertion for `clientId`: iss = sub = clientId, aud, iat, exp = iat + 60, a random jti. */
export function defaultClaims(clientId: string, audience: string, now: number = epochSeconds()): Fields {
  return { iss: clientId, sub: clientId, aud: audience, iat: now, exp: now + 60, jti: randomUUID() };
}

export type AssertionOptions = {
  clientId: string;
  /** The default `aud` (the issuer). */
  audience: string;
  /** The registered key: its alg and kid make the default header, and it signs unless `signWith` says otherwise. */
  key: SigningKey;
  header?: Fields;
  claims?: Fields;
  /** Sign with another private key (the header still names `key`'s kid unless overridden). */
  signWith?: CryptoKey | KeyObject;
  /** The clock the defaults use, in epoch seconds (the service's clock in tests that move it). */
  now?: number;
};

/** The header and claims `signAssertion` would sign. */
export function assertionParts(opts: AssertionOptions): { header: Fields; claims: Fields } {
  return {
    header: merge({ alg: opts.key.alg, kid: opts.key.kid, typ: CLIENT_ASSERTION_TYP }, opts.header),
    claims: merge(defaultClaims(opts.clientId, opts.audience, opts.now), opts.claims),
  };
}

/** Signs any JSON header (it must name an alg that fits the key) and claims with jose. */
export async function signJws(header: Fields, claims: unknown, key: CryptoKey | KeyObject): Promise<string> {
  // jose refuses to sign with crit members it does not know; the tests send such headers on purpose.
  const crit = Array.isArray(header.crit) ? Object.fromEntries((header.crit as string[]).map((name) => [name, true])) : undefined;
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader(header as never)
    .sign(key, crit && { crit });
}

/** A signed client assertion (compact JWS). */
export async function signAssertion(opts: AssertionOptions): Promise<string> {
  const { header, claims } = assertionParts(opts);
  return signJws(header, claims, opts.signWith ?? opts.key.privateKey);
}

/** base64url of a JSON value, or of a string's UTF-8 bytes as they are. */
export function segment(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8').toString('base64url');
}

/** `header.payload.signature` from raw parts: unsigned (`''`), forged bytes, or any signature text. */
export function compactJws(header: unknown, payload: unknown, signature: string | Uint8Array = ''): string {
  const sig = typeof signature === 'string' ? signature : Buffer.from(signature).toString('base64url');
  return `${segment(header)}.${segment(payload)}.${sig}`;
}

/** An HMAC-SHA-256 JWS keyed by `secret`, whatever the header claims (RS/HS key confusion). */
export function hmacJws(header: Fields, payload: unknown, secret: string | Uint8Array): string {
  const input = `${segment(header)}.${segment(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export type DpopProofOptions = {
  key: SigningKey;
  /** The token endpoint URL (htu). */
  htu: string;
  htm?: string;
  header?: Fields;
  claims?: Fields;
  signWith?: CryptoKey | KeyObject;
  now?: number;
};

/** An RFC 9449 §4.2 proof: typ dpop+jwt, the public key in `jwk`, and jti, htm, htu, iat. */
export async function signDpopProof(opts: DpopProofOptions): Promise<string> {
  const { kid: _kid, use: _use, alg: _alg, ...jwk } = opts.key.publicJwk;
  const header = merge({ typ: 'dpop+jwt', alg: opts.key.alg, jwk }, opts.header);
  const claims = merge({ jti: randomUUID(), htm: opts.htm ?? 'POST', htu: opts.htu, iat: opts.now ?? epochSeconds() }, opts.claims);
  return signJws(header, claims, opts.signWith ?? opts.key.privateKey);
}

/** RFC 7638 thumbprint of a key's public JWK: the cnf.jkt of a DPoP-bound token (RFC 9449 §6.1). */
export function jwkThumbprint(key: SigningKey): Promise<string> {
  return calculateJwkThumbprint(key.publicJwk, 'sha256');
}
