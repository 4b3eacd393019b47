import type { WindowCounterStore } from '../limits/window-counter.ts';
import { StorageUnavailable } from '../shared/errors.ts';
import type { RedisConnection } from './redis-connection.ts';

async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw new StorageUnavailable('the rate-limit store cannot be reached', { cause: error });
  }
}

/**
 * Window counters shared by every instance: INCR, an expiry set by the first hit (PEXPIRE NX),
 * and the time left, in one round trip. Keys start with `prefix` (REDIS_KEY_PREFIX + `count:`).
 */
export function createRedisWindowCounter(redis: RedisConnection, prefix: string): WindowCounterStore {
  return {
    hit: (key, windowMs) => guarded(async () => {
      const k = `${prefix}${key}`;
      const [count, , ttl] = await redis.multi().incr(k).pExpire(k, windowMs, 'NX').pTTL(k).exec() as unknown as [number, number, number];
      return { count: Number(count), resetInMs: Number(ttl) > 0 ? Number(ttl) : windowMs };
    }),
    undo: (key) => guarded(async () => {
      await redis.decr(`${prefix}${key}`);
    }),
    reset: (key) => guarded(async () => {
      await redis.del(`${prefix}${key}`);
    }),
  };
}
