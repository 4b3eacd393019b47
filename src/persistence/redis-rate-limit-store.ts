import { RedisStore, type RedisReply } from 'rate-limit-redis';
import { StorageUnavailable } from '../shared/errors.ts';
import type { RedisConnection } from './redis-connection.ts';

/**
 * express-rate-limit counters in Redis (rate-limit-redis), one key prefix per limiter, so every
 * instance counts the same requests. A failing Redis surfaces as StorageUnavailable (503), never a 500.
 */
export function createRedisRateLimitStore(redis: RedisConnection, name: string): RedisStore {
  return new RedisStore({
    prefix: `idb:rl:${name}:`,
    sendCommand: async (...args: string[]) => {
      try {
        return (await redis.sendCommand(args)) as RedisReply;
      } catch (error) {
        throw new StorageUnavailable('the rate-limit store cannot be reached', { cause: error });
      }
    },
  });
}
