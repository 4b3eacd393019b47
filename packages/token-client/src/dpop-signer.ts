import { createHash, randomUUID } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { exportJWK, SignJWT, type CryptoKey, type JWK } from 'jose';

/** The DPoP key pair the client holds (RFC 9449 §2): the public half goes in every proof's header. */
export type DpopKey = { privateKey: CryptoKey | KeyObject; publicKey: CryptoKey | KeyObject; alg: string };

export type ProofRequest = { method: string; url: string | URL; accessToken?: string; nonce?: string };

/** RFC 9449 §4.2: htu is the target URI without query and fragment. */
function htuOf(url: string | URL): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/** Signs DPoP proofs with one key: typ dpop+jwt, jwk, and jti, htm, htu, iat, with ath and nonce when given. */
export function createDpopSigner(key: DpopKey, now: () => number) {
  let publicJwk: Promise<JWK> | undefined;
  return async function proof(request: ProofRequest): Promise<string> {
    publicJwk ??= exportJWK(key.publicKey).then(({ kty, crv, x, y, n, e }) =>
      Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined)) as JWK);
    const claims: Record<string, string> = { htm: request.method.toUpperCase(), htu: htuOf(request.url) };
    if (request.accessToken !== undefined) claims.ath = createHash('sha256').update(request.accessToken, 'ascii').digest('base64url');
    if (request.nonce !== undefined) claims.nonce = request.nonce;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: key.alg, typ: 'dpop+jwt', jwk: await publicJwk })
      .setJti(randomUUID())
      .setIssuedAt(Math.floor(now() / 1000))
      .sign(key.privateKey);
  };
}

export type DpopSigner = ReturnType<typeof createDpopSigner>;
