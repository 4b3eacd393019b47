import { createPrivateKey, randomUUID, sign, type JsonWebKey } from 'node:crypto';
import type { JWK } from 'jose';
import type { SigningAlg } from '../options.ts';

/** RFC 7523 §3 limits the lifetime; the service accepts exp up to 300 s ahead. */
export const ASSERTION_LIFETIME_SECONDS = 300;
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export type AssertionSpec = {
  clientId: string;
  /** The service's issuer (RFC 7523bis: aud is the issuer). */
  audience: string;
  alg: SigningAlg;
  kid: string;
  privateJwk: JWK;
  /** The rest of the token request, to which the assertion is appended. */
  requestBody: string;
};

const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * A synchronous maker of token request bodies, each with a fresh assertion (jti is single-use).
 * node:crypto rather than jose because jose only signs asynchronously, and the load driver needs a
 * body the moment a connection is free; the service verifies every one with jose.
 */
export function createAssertionBodySigner(spec: AssertionSpec): () => string {
  const key = createPrivateKey({ key: spec.privateJwk as JsonWebKey, format: 'jwk' });
  const header = segment({ alg: spec.alg, kid: spec.kid, typ: 'client-authentication+jwt' });
  const digest = spec.alg === 'EdDSA' ? null : 'sha256';
  // RFC 7518 §3.4: ECDSA signatures are R || S, not DER.
  const signingKey = spec.alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' as const } : key;
  const prefix = `${spec.requestBody}&client_assertion_type=${encodeURIComponent(CLIENT_ASSERTION_TYPE)}&client_assertion=`;
  return () => {
    const iat = Math.floor(Date.now() / 1000);
    const claims = segment({ iss: spec.clientId, sub: spec.clientId, aud: spec.audience, iat, exp: iat + ASSERTION_LIFETIME_SECONDS, jti: randomUUID() });
    const input = `${header}.${claims}`;
    return `${prefix}${input}.${sign(digest, Buffer.from(input), signingKey).toString('base64url')}`;
  };
}
