import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { beforeEach, describe, it } from 'node:test';
import type { Clock } from '../../src/shared/clock.ts';
import type { ReplayCache } from '../../src/tokens/replay-cache.ts';
import { forEachReplayCache } from '../helpers/replay-caches.ts';
import { createTestClock } from '../helpers/test-clock.ts';

type TestClock = ReturnType<typeof createTestClock>;

/** The behaviour every ReplayCache must have (STYLE §2.8: one suite, every implementation), on the service clock it is given. */
export function replayCacheContract(name: string, makeWith: (clock: Clock) => ReplayCache) {
  let clock: TestClock;
  const make = () => makeWith(clock);
  const inSeconds = (s: number) => new Date(clock.now().getTime() + s * 1000);
  describe(`${name} replay cache (contract)`, () => {
    beforeEach(() => {
      clock = createTestClock();
    });

    it('AS-02 accepts the first use of a key and refuses the second', async () => {
      const cache = make();
      const key = `k-${randomUUID()}`;
      assert.equal(await cache.useOnce(key, inSeconds(60)), true);
      assert.equal(await cache.useOnce(key, inSeconds(60)), false);
    });

    it('keeps keys apart', async () => {
      const cache = make();
      assert.equal(await cache.useOnce(`a-${randomUUID()}`, inSeconds(60)), true);
      assert.equal(await cache.useOnce(`b-${randomUUID()}`, inSeconds(60)), true);
    });

    it('AS-02 lets exactly one of 20 concurrent uses of one key through', async () => {
      const cache = make();
      const key = `c-${randomUUID()}`;
      const results = await Promise.all(Array.from({ length: 20 }, () => cache.useOnce(key, inSeconds(60))));
      assert.equal(results.filter(Boolean).length, 1);
    });

    it('forgets a key once it has expired', async () => {
      const cache = make();
      const key = `e-${randomUUID()}`;
      assert.equal(await cache.useOnce(key, new Date(Date.now() + 1200)), true);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(await cache.useOnce(key, inSeconds(60)), true);
    });

    it('AS-02 keeps a key until its expiry on the service clock, even when the store\'s own clock runs an hour ahead', async () => {
      // The service clock an hour behind real time stands for a store (Redis) whose clock is an hour ahead.
      clock.advance(-3600);
      const cache = make();
      const key = `s-${randomUUID()}`;
      assert.equal(await cache.useOnce(key, inSeconds(30)), true);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(await cache.useOnce(key, inSeconds(30)), false, 'still within its 30 s on the service clock');
    });

    it('AS-02 keeps a key up to its expiry through the pruning of expired ones', async () => {
      // A clock that stands still, so the time the uses take cannot carry it past the expiry.
      let now = Date.now();
      const cache = makeWith({ now: () => new Date(now) });
      const key = `p-${randomUUID()}`;
      assert.equal(await cache.useOnce(key, new Date(now + 120_000)), true);
      // Expired neighbours, and enough uses to prune them (prisma-replay-cache.ts prunes every 500 uses).
      for (let i = 0; i < 20; i++) await cache.useOnce(`x-${randomUUID()}`, new Date(now + 1000));
      now += 119_999;
      for (let i = 0; i < 500; i++) await cache.useOnce(`y-${randomUUID()}`, new Date(now + 600_000));
      assert.equal(await cache.useOnce(key, new Date(now + 120_000)), false, 'a millisecond before its expiry');
    });
  });
}

forEachReplayCache('replay caches', replayCacheContract);
