import { StorageUnavailable } from '../shared/errors.ts';
import type { ReplayCache } from '../tokens/replay-cache.ts';
import type { RedisConnection } from './redis-connection.ts';

/** SET NX with an absolute expiry: the first instance to use a key wins, and Redis forgets it on time. */
export function createRedisReplayCache(redis: RedisConnection, prefix = 'idb:replay:'): ReplayCache {
  return {
    async useOnce(key, expiresAt) {
      try {
        const reply = await redis.set(`${prefix}${key}`, '1', { NX: true, PXAT: Math.max(expiresAt.getTime(), Date.now() + 1000) });
        return reply === 'OK';
      } catch (error) {
        throw new StorageUnavailable('the replay cache cannot be reached', { cause: error });
      }
    },
  };
}
