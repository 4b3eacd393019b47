import type { Clock } from '../shared/clock.ts';
import { StorageUnavailable } from '../shared/errors.ts';
import type { ReplayCache } from '../tokens/replay-cache.ts';
import type { RedisConnection } from './redis-connection.ts';

/**
 * SET NX: the first instance to use a key wins. The lifetime is relative (PX), counted from the
 * service clock that accepted the value: an absolute PXAT would be read on the Redis server's
 * clock, and a server running ahead would forget the key while the value is still accepted.
 */
export function createRedisReplayCache(redis: RedisConnection, clock: Clock, prefix: string): ReplayCache {
  return {
    async useOnce(key, expiresAt) {
      try {
        const reply = await redis.set(`${prefix}${key}`, '1', { NX: true, PX: Math.max(expiresAt.getTime() - clock.now().getTime(), 1000) });
        return reply === 'OK';
      } catch (error) {
        throw new StorageUnavailable('the replay cache cannot be reached', { cause: error });
      }
    },
  };
}
