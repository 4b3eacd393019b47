import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAuthFailureLimiter, createMemoryFailureStore } from '../../src/http/middleware/auth-failure-limiter.ts';

/** A clock the test moves by hand. */
function manualClock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => { now += ms; } };
}

describe('createAuthFailureLimiter', () => {
  it('RL-01 locks a (client, address) pair once the limit of failures is reached, for the rest of the minute', async () => {
    const clock = manualClock();
    const limiter = createAuthFailureLimiter(3, createMemoryFailureStore(clock.now));
    await limiter.recordFailure('c-basic', '203.0.113.7');
    clock.advance(10_000);
    await limiter.recordFailure('c-basic', '203.0.113.7');
    assert.equal(await limiter.lockedFor('c-basic', '203.0.113.7'), undefined);
    await limiter.recordFailure('c-basic', '203.0.113.7');
    // The window opened at the first failure, 10 s ago.
    assert.equal(await limiter.lockedFor('c-basic', '203.0.113.7'), 50);
    clock.advance(49_500);
    assert.equal(await limiter.lockedFor('c-basic', '203.0.113.7'), 1);
    clock.advance(500);
    assert.equal(await limiter.lockedFor('c-basic', '203.0.113.7'), undefined);
  });

  it('RL-01 keys by the pair: the same client from another address, or another client from the address, is not locked', async () => {
    const limiter = createAuthFailureLimiter(2, createMemoryFailureStore(manualClock().now));
    await limiter.recordFailure('c-basic', '203.0.113.7');
    await limiter.recordFailure('c-basic', '203.0.113.7');
    assert.equal(await limiter.lockedFor('c-basic', '203.0.113.7'), 60);
    assert.equal(await limiter.lockedFor('c-basic', '203.0.113.8'), undefined);
    assert.equal(await limiter.lockedFor('c-post', '203.0.113.7'), undefined);
  });

  it('does not extend the lock with failures recorded while locked (fixed window)', async () => {
    const clock = manualClock();
    const limiter = createAuthFailureLimiter(2, createMemoryFailureStore(clock.now));
    await limiter.recordFailure('c', '198.51.100.1');
    await limiter.recordFailure('c', '198.51.100.1');
    clock.advance(30_000);
    for (let i = 0; i < 10; i++) await limiter.recordFailure('c', '198.51.100.1');
    assert.equal(await limiter.lockedFor('c', '198.51.100.1'), 30);
  });

  it('starts a fresh window after the old one ends', async () => {
    const clock = manualClock();
    const limiter = createAuthFailureLimiter(2, createMemoryFailureStore(clock.now));
    await limiter.recordFailure('c', '198.51.100.1');
    await limiter.recordFailure('c', '198.51.100.1');
    clock.advance(60_000);
    assert.equal(await limiter.lockedFor('c', '198.51.100.1'), undefined);
    await limiter.recordFailure('c', '198.51.100.1');
    assert.equal(await limiter.lockedFor('c', '198.51.100.1'), undefined, 'one failure in the new window');
    await limiter.recordFailure('c', '198.51.100.1');
    assert.equal(await limiter.lockedFor('c', '198.51.100.1'), 60);
  });

  it('never locks when the limit is 0', async () => {
    const limiter = createAuthFailureLimiter(0, createMemoryFailureStore(manualClock().now));
    for (let i = 0; i < 1000; i++) await limiter.recordFailure('c', '198.51.100.1');
    assert.equal(await limiter.lockedFor('c', '198.51.100.1'), undefined);
  });
});
