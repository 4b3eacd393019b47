import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { createKeySealer } from '../../src/keys/key-encryption.ts';
import { createKeyRing, keyEncryptionKeyId } from '../../src/keys/key-ring.ts';

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
    const [version, kekId, iv, ciphertext, tag, ...rest] = sealed.split('.');
    assert.equal(version, 'v2');
    assert.match(kekId!, /^[A-Za-z0-9_-]{12}$/);
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
    assert.throws(() => sealer.open(sealed, 'kid-1'), /cannot be decrypted: it was sealed by key-encryption key [A-Za-z0-9_-]{12}, which is neither KEY_ENCRYPTION_KEY/);
  });

  it('detects a change to the IV, the ciphertext or the tag', () => {
    const sealed = sealer.seal(PRIVATE_JWK, 'kid-1');
    for (const index of [2, 3, 4]) assert.throws(() => sealer.open(tamper(sealed, index), 'kid-1'), /cannot be decrypted/, `part ${index}`);
  });

  it('refuses values in an unknown format', () => {
    const sealed = sealer.seal(PRIVATE_JWK, 'kid-1');
    for (const bad of ['', 'garbage', sealed.replace(/^v2\./, 'v3.'), sealed.split('.').slice(0, 3).join('.'), `..${sealed}`]) {
      assert.throws(() => sealer.open(bad, 'kid-1'), /signing key kid-1/, bad.slice(0, 20));
    }
  });

  it('requires a 32-byte key', () => {
    for (const length of [0, 16, 31, 33, 64]) assert.throws(() => createKeySealer(randomBytes(length)), /32 bytes/);
  });
});

describe('createKeySealer with a key ring (KEY_ENCRYPTION_KEYS_PREVIOUS)', () => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  const before = createKeySealer(oldKey);
  const after = createKeySealer(createKeyRing(newKey, [oldKey]));

  it('seals under the current key and names it', () => {
    const sealed = after.seal(PRIVATE_JWK, 'kid-1');
    assert.equal(sealed.split('.')[1], keyEncryptionKeyId(newKey));
    assert.equal(after.sealedBy(sealed, 'kid-1'), keyEncryptionKeyId(newKey));
    assert.equal(after.isCurrent(sealed), true);
    assert.throws(() => before.open(sealed, 'kid-1'), new RegExp(`sealed by key-encryption key ${keyEncryptionKeyId(newKey)}`));
  });

  it('opens what a previous key sealed, and says it is not current', () => {
    const sealed = before.seal(PRIVATE_JWK, 'kid-1');
    assert.equal(after.open(sealed, 'kid-1'), PRIVATE_JWK);
    assert.equal(after.sealedBy(sealed, 'kid-1'), keyEncryptionKeyId(oldKey));
    assert.equal(after.isCurrent(sealed), false);
  });

  it('opens a v1 value (no key id) with whichever key of the ring sealed it', () => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', oldKey, iv).setAAD(Buffer.from('kid-1'));
    const ciphertext = Buffer.concat([cipher.update(PRIVATE_JWK, 'utf8'), cipher.final()]);
    const legacy = ['v1', iv.toString('base64url'), ciphertext.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
    assert.equal(after.open(legacy, 'kid-1'), PRIVATE_JWK);
    assert.equal(after.sealedBy(legacy, 'kid-1'), keyEncryptionKeyId(oldKey));
    assert.equal(after.isCurrent(legacy), false);
    assert.throws(() => createKeySealer(newKey).open(legacy, 'kid-1'), /KEY_ENCRYPTION_KEY differs from the one that sealed it/);
    assert.equal(createKeySealer(newKey).sealedBy(legacy, 'kid-1'), undefined);
  });

  it('derives distinct ids that do not reveal the key, and refuses a key listed twice', () => {
    assert.notEqual(keyEncryptionKeyId(oldKey), keyEncryptionKeyId(newKey));
    assert.equal(keyEncryptionKeyId(Buffer.from(oldKey)), keyEncryptionKeyId(oldKey));
    assert.ok(!oldKey.toString('base64url').includes(keyEncryptionKeyId(oldKey)));
    assert.throws(() => createKeyRing(newKey, [oldKey, Buffer.from(oldKey)]), /configured twice/);
  });
});
