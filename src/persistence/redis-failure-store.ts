import type { FailureCounterStore } from '../http/middleware/auth-failure-limiter.ts';
import { StorageUnavailable } from '../shared/errors.ts';
import type { RedisConnection } from './redis-connection.ts';

async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw new StorageUnavailable('the rate-limit store cannot be reached', { cause: error });
  }
}

/** Failure counters shared by every instance: INCR, with the window set by the first failure. */
export function createRedisFailureStore(redis: RedisConnection, prefix = 'idb:authfail:'): FailureCounterStore {
  return {
    get: (key) => guarded(async () => {
      const [count, ttl] = await Promise.all([redis.get(`${prefix}${key}`), redis.pTTL(`${prefix}${key}`)]);
      return count === null || ttl < 0 ? undefined : { count: Number(count), ttlMs: ttl };
    }),
    increment: (key, windowMs) => guarded(async () => {
      const count = await redis.incr(`${prefix}${key}`);
      if (count === 1) await redis.pExpire(`${prefix}${key}`, windowMs);
    }),
  };
}
