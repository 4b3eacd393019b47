import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CLOCK_SKEW_SECONDS,
  findState,
  isPublished,
  MAX_PUBLISHED_KEYS,
  nextKeySignableAt,
  retirementExpiry,
  rotationDueAt,
  scheduledRotationDue,
  type LifecycleConfig,
} from '../../src/keys/key-lifecycle.ts';
import type { KeyState, SigningKeyRecord } from '../../src/keys/signing-key.ts';

const T0 = new Date('2030-01-01T00:00:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

const CONFIG: LifecycleConfig = { keyRotationInterval: 3600, keyPrepublish: 600, maxAccessTokenTtl: 900 };

function key(kid: string, state: KeyState, times: Partial<Pick<SigningKeyRecord, 'createdAt' | 'activatedAt' | 'retiredAt' | 'expiresAt' | 'revokedAt'>> = {}): SigningKeyRecord {
  return {
    kid,
    alg: 'RS256',
    state,
    publicJwk: { kty: 'RSA', kid },
    encryptedPrivateJwk: '',
    createdAt: T0,
    activatedAt: null,
    retiredAt: null,
    expiresAt: null,
    revokedAt: null,
    ...times,
  };
}

describe('key lifecycle rules (key state machine)', () => {
  it('caps the JWKS at 100 keys, the most AWS API Gateway and similar verifiers accept', () => {
    assert.equal(MAX_PUBLISHED_KEYS, 100);
  });

  it('publishes next and active keys whatever their dates', () => {
    assert.equal(isPublished(key('n', 'next'), at(-10)), true);
    assert.equal(isPublished(key('n', 'next', { createdAt: at(10) }), T0), true);
    assert.equal(isPublished(key('a', 'active', { activatedAt: at(-1e6) }), at(1e6)), true);
  });

  it('publishes a retired key until its expiry, not at or after it', () => {
    const retired = key('r', 'retired', { retiredAt: T0, expiresAt: at(960) });
    assert.equal(isPublished(retired, T0), true);
    assert.equal(isPublished(retired, at(959.999)), true);
    assert.equal(isPublished(retired, at(960)), false);
    assert.equal(isPublished(retired, at(961)), false);
  });

  it('never publishes a retired key without an expiry, nor a revoked key', () => {
    assert.equal(isPublished(key('r', 'retired', { retiredAt: T0 }), T0), false);
    assert.equal(isPublished(key('x', 'revoked', { revokedAt: at(10) }), T0), false);
    // A revoked key stays out even though its old expiry lies in the future.
    assert.equal(isPublished(key('x', 'revoked', { expiresAt: at(1000), revokedAt: T0 }), at(1)), false);
  });

  it('keeps a retired key for the longest token lifetime plus a 60 s clock-skew margin', () => {
    assert.equal(CLOCK_SKEW_SECONDS, 60);
    assert.deepEqual(retirementExpiry(T0, { maxAccessTokenTtl: 900 }), at(960));
    assert.deepEqual(retirementExpiry(at(5), { maxAccessTokenTtl: 3600 }), at(3665));
  });

  it('lets the next key sign only KEY_PREPUBLISH after its publication', () => {
    assert.deepEqual(nextKeySignableAt(key('n', 'next', { createdAt: at(30) }), { keyPrepublish: 600 }), at(630));
  });

  it('wants a rotation KEY_ROTATION_INTERVAL after activation, or after creation for a key with no activation time', () => {
    assert.deepEqual(rotationDueAt(key('a', 'active', { createdAt: at(-500), activatedAt: at(100) }), CONFIG), at(3700));
    assert.deepEqual(rotationDueAt(key('a', 'active', { createdAt: at(-500) }), CONFIG), at(3100));
  });

  it('finds the key in a state', () => {
    const keys = [key('r', 'retired'), key('a', 'active'), key('n', 'next')];
    assert.equal(findState(keys, 'active')?.kid, 'a');
    assert.equal(findState(keys, 'next')?.kid, 'n');
    assert.equal(findState(keys, 'revoked'), undefined);
  });

  describe('scheduledRotationDue', () => {
    const active = key('a', 'active', { activatedAt: T0 });
    const next = key('n', 'next', { createdAt: at(100) });

    it('is due once the interval has passed and the next key has been published for KEY_PREPUBLISH', () => {
      assert.equal(scheduledRotationDue([active, next], at(3599), CONFIG), false);
      assert.equal(scheduledRotationDue([active, next], at(3600), CONFIG), true);
    });

    it('waits for the pre-publication of a next key created late', () => {
      const lateNext = key('n', 'next', { createdAt: at(3500) });
      assert.equal(scheduledRotationDue([active, lateNext], at(3600), CONFIG), false);
      assert.equal(scheduledRotationDue([active, lateNext], at(4099), CONFIG), false);
      assert.equal(scheduledRotationDue([active, lateNext], at(4100), CONFIG), true);
    });

    it('is never due without an active or a next key', () => {
      assert.equal(scheduledRotationDue([next], at(1e6), CONFIG), false);
      assert.equal(scheduledRotationDue([active], at(1e6), CONFIG), false);
      assert.equal(scheduledRotationDue([], at(1e6), CONFIG), false);
    });

    it('ignores retired and revoked keys', () => {
      const old = [key('r', 'retired', { activatedAt: at(-1e6), retiredAt: T0, expiresAt: at(960) }), key('x', 'revoked', { revokedAt: T0 })];
      assert.equal(scheduledRotationDue([...old, active, next], at(3599), CONFIG), false);
      assert.equal(scheduledRotationDue([...old, active, next], at(3600), CONFIG), true);
    });

    it('is not due again right after a rotation, even on an instance whose clock is a few seconds ahead', () => {
      // The instance that rotated stamped the new key with its own time; another, 3 s ahead, sees it as 3 s older.
      const rotatedActive = key('n', 'active', { createdAt: at(100), activatedAt: at(3600) });
      const newNext = key('m', 'next', { createdAt: at(3600) });
      assert.equal(scheduledRotationDue([rotatedActive, newNext], at(3603), CONFIG), false);
      assert.equal(scheduledRotationDue([rotatedActive, newNext], at(7200), CONFIG), true);
    });
  });
});
