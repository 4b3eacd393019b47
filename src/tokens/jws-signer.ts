import { constants, sign, type KeyObject, type SignKeyObjectInput, type SignPrivateKeyInput } from 'node:crypto';
import type { SigningAlg } from '../config/config-schema.ts';

/** RFC 7518 §3 (and RFC 8037 for EdDSA): the digest and signature options node:crypto needs for each alg. */
function signatureParams(alg: SigningAlg, key: KeyObject): { digest: string | null; key: SignKeyObjectInput | SignPrivateKeyInput | KeyObject } {
  switch (alg) {
    case 'RS256': return { digest: 'sha256', key };
    case 'PS256': return { digest: 'sha256', key: { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST } };
    // JWS ECDSA signatures are R || S (IEEE P1363), not DER.
    case 'ES256': return { digest: 'sha256', key: { key, dsaEncoding: 'ieee-p1363' } };
    case 'EdDSA': return { digest: null, key };
  }
}

export type JwsSigner = { kid: string; alg: SigningAlg; sign(payload: object): Promise<string> };

/**
 * A JWS compact serialization (RFC 7515 §7.1) with a fixed protected header, signed by node:crypto
 * in the libuv thread pool. The protected header is encoded once per key, not per token. jose's
 * SignJWT goes through WebCrypto, whose per-call argument handling on the main thread cost more than
 * the ES256 signature itself (docs/performance.md); every token is still verified with jose and three
 * other libraries in the tests (test/http/token/token-contents.test.ts, jws-signer.test.ts).
 */
export function createJwsSigner(key: { kid: string; alg: SigningAlg; privateKey: KeyObject }, typ: string): JwsSigner {
  const header = Buffer.from(JSON.stringify({ alg: key.alg, kid: key.kid, typ })).toString('base64url');
  const { digest, key: signingKey } = signatureParams(key.alg, key.privateKey);
  return {
    kid: key.kid,
    alg: key.alg,
    sign(payload) {
      const input = `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
      return new Promise((resolve, reject) => {
        sign(digest, Buffer.from(input), signingKey, (error, signature) => {
          if (error) reject(error);
          else resolve(`${input}.${signature.toString('base64url')}`);
        });
      });
    },
  };
}
