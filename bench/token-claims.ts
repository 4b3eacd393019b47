import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { SigningAlg } from './options.ts';

/** The client every server is asked for a token for, and what it asks for. */
export const BENCH_CLIENT_ID = 'bench';
export const BENCH_JWT_CLIENT_ID = 'bench-jwt';
export const AUDIENCE = 'https://orders.internal';
export const SCOPE = 'orders:read';
export const ACCESS_TOKEN_TTL = 900;

/** The same form body goes to every server (RFC 6749 §4.4.2, RFC 8707 §2). */
export const TOKEN_REQUEST_BODY = new URLSearchParams({ grant_type: 'client_credentials', scope: SCOPE, resource: AUDIENCE }).toString();

export type BenchKey = { alg: SigningAlg; kid: string; privateKey: CryptoKey; publicJwk: JWK; privateJwk: JWK };

/** A key of the kind the service generates for `alg` (jose CryptoKey; RSA 2048, P-256, Ed25519). */
export async function generateBenchKey(alg: SigningAlg, kid = randomBytes(8).toString('hex')): Promise<BenchKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' && { crv: 'Ed25519' }) });
  return {
    alg,
    kid,
    privateKey,
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' },
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' },
  };
}

/** The RFC 9068 token the service issues: the same header and claims, signed the same way. */
export function signAccessToken(key: BenchKey, issuer: string, clientId = BENCH_CLIENT_ID): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT({ client_id: clientId, scope: SCOPE })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
    .setIssuer(issuer)
    .setSubject(clientId)
    .setAudience(AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ACCESS_TOKEN_TTL)
    .setJti(randomBytes(16).toString('base64url'))
    .sign(key.privateKey);
}

export function basicAuthorization(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}
