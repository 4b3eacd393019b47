import { exportJWK, generateKeyPair } from 'jose';
import type { SigningAlg } from '../config/config-schema.ts';
import { randomToken } from '../shared/ids.ts';
import { publicOnly } from './jwks-document.ts';
import type { KeySealer } from './key-encryption.ts';
import type { SigningKeyRecord } from './signing-key.ts';

/** A kid that is never reused: creation date for operators, 96 random bits for uniqueness. */
function newKid(now: Date): string {
  return `${now.toISOString().slice(0, 10).replaceAll('-', '')}-${randomToken(12)}`;
}

/** A new key pair of `alg`: the public JWK published as is, the private one sealed at once. */
export async function generateSigningKey(alg: SigningAlg, sealer: KeySealer, now: Date, state: 'next' | 'active'): Promise<SigningKeyRecord> {
  const kid = newKid(now);
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' && { crv: 'Ed25519' }) });
  const publicJwk = { ...publicOnly(await exportJWK(publicKey)), kid, use: 'sig', alg };
  return {
    kid,
    alg,
    state,
    publicJwk,
    encryptedPrivateJwk: sealer.seal(JSON.stringify(await exportJWK(privateKey)), kid),
    createdAt: now,
    activatedAt: state === 'active' ? now : null,
    retiredAt: null,
    expiresAt: null,
    revokedAt: null,
  };
}
