import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeProtectedHeader, exportJWK, importJWK, jwtVerify } from 'jose';
import jsonwebtoken from 'jsonwebtoken';
import { SIGNING_ALGS, type SigningAlg } from '../../src/config/config-schema.ts';
import { createJwsSigner } from '../../src/tokens/jws-signer.ts';

function keyPair(alg: SigningAlg) {
  if (alg === 'ES256') return generateKeyPairSync('ec', { namedCurve: 'P-256' });
  if (alg === 'EdDSA') return generateKeyPairSync('ed25519');
  return generateKeyPairSync('rsa', { modulusLength: 2048 });
}

describe('JWS signer (RFC 7515 compact serialization on node:crypto)', () => {
  for (const alg of SIGNING_ALGS) {
    it(`${alg}: jose verifies what it signs, header and claims intact, and refuses it once altered`, async () => {
      const { privateKey, publicKey } = keyPair(alg);
      const signer = createJwsSigner({ kid: 'k-1', alg, privateKey }, 'at+jwt');
      const claims = { client_id: 'c', scope: 'a b', iss: 'https://issuer', sub: 's', aud: 'https://aud', iat: 1, exp: 4_000_000_000, jti: 'j', cnf: { jkt: 'x' } };
      const jwt = await signer.sign(claims);
      assert.deepEqual(decodeProtectedHeader(jwt), { alg, kid: 'k-1', typ: 'at+jwt' });
      const verifyKey = await importJWK({ ...(await exportJWK(publicKey)), alg }, alg);
      const { payload } = await jwtVerify(jwt, verifyKey, { algorithms: [alg], typ: 'at+jwt', issuer: 'https://issuer', audience: 'https://aud' });
      assert.deepEqual(payload, claims);
      const [h, p, s] = jwt.split('.');
      const altered = `${h}.${Buffer.from(JSON.stringify({ ...claims, scope: 'admin' })).toString('base64url')}.${s}`;
      await assert.rejects(jwtVerify(altered, verifyKey, { algorithms: [alg] }));
      assert.ok(p && s && !jwt.includes('='), 'base64url without padding');
      // A second, independent implementation agrees (jsonwebtoken has no EdDSA).
      if (alg !== 'EdDSA') assert.equal((jsonwebtoken.verify(jwt, publicKey, { algorithms: [alg] }) as { jti: string }).jti, 'j');
    });
  }
});
