import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { createSecretHasher, generateClientSecret } from '../../src/clients/client-secret.ts';

const HASH = /^hmac-sha256\.v1\.[A-Za-z0-9_-]{43}$/;

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
    const mac = hasher.hash(secret).slice('hmac-sha256.v1.'.length);
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
