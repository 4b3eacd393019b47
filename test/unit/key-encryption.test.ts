import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { createKeySealer } from '../../src/keys/key-encryption.ts';

const PRIVATE_JWK = JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'x-coordinate', y: 'y-coordinate', d: 'private-scalar' });

/** Flips one bit of the base64url part `index` of a sealed value. */
function tamper(sealed: string, index: number): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[index]!, 'base64url');
  bytes[0] = bytes[0]! ^ 0x01;
  parts[index] = bytes.toString('base64url');
  return parts.join('.');
}

describe('createKeySealer (AES-256-GCM, kid as associated data)', () => {
  const sealer = createKeySealer(randomBytes(32));

  it('opens what it sealed', () => {
    const sealed = sealer.seal(PRIVATE_JWK, 'kid-1');
    assert.equal(sealer.open(sealed, 'kid-1'), PRIVATE_JWK);
    assert.equal(sealer.open(sealer.seal('é'.repeat(5000), 'kid-é'), 'kid-é'), 'é'.repeat(5000));
  });

  it('writes a versioned value that does not contain the plaintext', () => {
    const sealed = sealer.seal(PRIVATE_JWK, 'kid-1');
    const [version, iv, ciphertext, tag, ...rest] = sealed.split('.');
    assert.equal(version, 'v1');
    assert.equal(Buffer.from(iv!, 'base64url').length, 12);
    assert.equal(Buffer.from(ciphertext!, 'base64url').length, Buffer.byteLength(PRIVATE_JWK));
    assert.equal(Buffer.from(tag!, 'base64url').length, 16);
    assert.deepEqual(rest, []);
    assert.ok(!sealed.includes('private-scalar'));
    assert.ok(!Buffer.from(ciphertext!, 'base64url').toString('utf8').includes('private-scalar'));
  });

  it('uses a fresh IV for every seal', () => {
    assert.notEqual(sealer.seal(PRIVATE_JWK, 'kid-1'), sealer.seal(PRIVATE_JWK, 'kid-1'));
  });

  it('refuses a value sealed for another kid', () => {
    const sealed = sealer.seal(PRIVATE_JWK, 'kid-1');
    assert.throws(() => sealer.open(sealed, 'kid-2'), /signing key kid-2 cannot be decrypted/);
  });

  it('refuses a value sealed under another key-encryption key', () => {
    const sealed = createKeySealer(randomBytes(32)).seal(PRIVATE_JWK, 'kid-1');
    assert.throws(() => sealer.open(sealed, 'kid-1'), /cannot be decrypted: KEY_ENCRYPTION_KEY differs/);
  });

  it('detects a change to the IV, the ciphertext or the tag', () => {
    const sealed = sealer.seal(PRIVATE_JWK, 'kid-1');
    for (const index of [1, 2, 3]) assert.throws(() => sealer.open(tamper(sealed, index), 'kid-1'), /cannot be decrypted/, `part ${index}`);
  });

  it('refuses values in an unknown format', () => {
    const sealed = sealer.seal(PRIVATE_JWK, 'kid-1');
    for (const bad of ['', 'garbage', sealed.replace(/^v1\./, 'v2.'), sealed.split('.').slice(0, 3).join('.'), `..${sealed}`]) {
      assert.throws(() => sealer.open(bad, 'kid-1'), /signing key kid-1/, bad.slice(0, 20));
    }
  });

  it('requires a 32-byte key', () => {
    for (const length of [0, 16, 31, 33, 64]) assert.throws(() => createKeySealer(randomBytes(length)), /32 bytes/);
  });
});
