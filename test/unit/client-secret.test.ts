import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { createSecretHasher, generateClientSecret, hashKeyId, labelLegacyHash } from '../../src/clients/client-secret.ts';
import { createKeyRing, keyEncryptionKeyId } from '../../src/keys/key-ring.ts';

const HASH = /^hmac-sha256\.v2\.[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]{43}$/;

describe('createSecretHasher', () => {
  const key = randomBytes(32);
  const hasher = createSecretHasher(key);

  it('gives the same hash for the same secret and key, in the versioned shape', () => {
    const secret = generateClientSecret();
    const hash = hasher.hash(secret);
    assert.match(hash, HASH);
    assert.equal(hasher.hash(secret), hash);
    assert.equal(createSecretHasher(Buffer.from(key)).hash(secret), hash);
    assert.ok(!hash.includes(secret));
  });

  it('gives different hashes for different secrets and for different keys', () => {
    const secret = generateClientSecret();
    assert.notEqual(hasher.hash(secret), hasher.hash(`${secret}x`));
    assert.notEqual(createSecretHasher(randomBytes(32)).hash(secret), hasher.hash(secret));
  });

  it('matches the right secret only', () => {
    const secret = generateClientSecret();
    const hash = hasher.hash(secret);
    assert.equal(hasher.matches(secret, hash), true);
    assert.equal(hasher.matches(`${secret} `, hash), false);
    assert.equal(hasher.matches(secret.slice(0, -1), hash), false);
    assert.equal(hasher.matches('', hash), false);
    assert.equal(createSecretHasher(randomBytes(32)).matches(secret, hash), false);
  });

  it('returns false, without throwing, for stored hashes it did not make', () => {
    const secret = generateClientSecret();
    const mac = hasher.hash(secret).split('.').at(-1)!;
    for (const stored of ['', secret, mac, `hmac-sha256.v2.${mac}`, 'hmac-sha256.v1.', `hmac-sha256.v1.${mac.slice(0, 20)}`, `hmac-sha256.v1.${mac}AA`]) {
      assert.equal(hasher.matches(secret, stored), false, stored);
    }
  });

  it('does not match the all-zero MAC used for hashes of another format', () => {
    const zero = `hmac-sha256.v1.${Buffer.alloc(32).toString('base64url')}`;
    assert.equal(hasher.matches(generateClientSecret(), zero), false);
  });
});

describe('generateClientSecret', () => {
  it('gives 256 random bits as 43 base64url characters', () => {
    const secrets = new Set(Array.from({ length: 100 }, generateClientSecret));
    assert.equal(secrets.size, 100);
    for (const secret of secrets) {
      assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(Buffer.from(secret, 'base64url').length, 32);
    }
  });
});

describe('createSecretHasher with a key ring', () => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  const before = createSecretHasher(oldKey);
  const after = createSecretHasher(createKeyRing(newKey, [oldKey]));
  const secret = generateClientSecret();

  it('hashes under the current key, naming it', () => {
    const hash = after.hash(secret);
    assert.equal(hashKeyId(hash), keyEncryptionKeyId(newKey));
    assert.equal(after.isCurrent(hash), true);
    assert.equal(before.matches(secret, hash), false);
  });

  it('verifies a hash made under a previous key, and says it is not current', () => {
    const hash = before.hash(secret);
    assert.equal(after.matches(secret, hash), true);
    assert.equal(after.matches(`${secret}x`, hash), false);
    assert.equal(after.isCurrent(hash), false);
    assert.equal(createSecretHasher(newKey).matches(secret, hash), false, 'not once the previous key is dropped');
  });

  it('verifies a v1 hash (no key id) under any key of the ring; its label changes nothing', () => {
    const v1 = `hmac-sha256.v1.${before.hash(secret).split('.').at(-1)}`;
    assert.equal(hashKeyId(v1), 'legacy');
    assert.equal(after.matches(secret, v1), true);
    assert.equal(after.isCurrent(v1), false);
    assert.equal(before.isCurrent(v1), true, 'with one key, a v1 hash is left as it is (older instances read only v1)');
    assert.equal(createSecretHasher(newKey).matches(secret, v1), false);
    const labelled = labelLegacyHash(v1, keyEncryptionKeyId(oldKey));
    assert.equal(labelled, before.hash(secret));
  });

  it('never matches a hash naming a key it does not hold, nor a malformed v2 hash', () => {
    const hash = before.hash(secret);
    const mac = hash.split('.').at(-1)!;
    for (const stored of [hash.replace(keyEncryptionKeyId(oldKey), 'AAAAAAAAAAAA'), `${hash}.x`, `hmac-sha256.v2.${keyEncryptionKeyId(oldKey)}`, `hmac-sha256.v2..${mac}`, after.decoyHash]) {
      assert.equal(after.matches(secret, stored), false, stored);
    }
  });
});
