import { createClient } from '@redis/client';
import type { Logger } from '../shared/logger.ts';

function buildClient(url: string) {
  return createClient({
    url,
    disableOfflineQueue: true,
    socket: { connectTimeout: 3000, reconnectStrategy: (retries: number) => Math.min(retries * 200, 2000) },
  });
}

export type RedisConnection = ReturnType<typeof buildClient>;

/**
 * One Redis connection per process (REDIS_URL), for state every instance must share: replay
 * caches and rate-limit counters. Commands fail fast while it is down, so callers fail closed.
 */
export async function connectRedis(url: string, logger: Logger): Promise<RedisConnection> {
  const client = buildClient(url);
  client.on('error', (error: unknown) => logger.warn({ err: error }, 'redis connection error'));
  await client.connect();
  return client;
}
