import { randomUUID } from 'node:crypto';
import { after, before, describe } from 'node:test';
import { parseDatabaseUrl } from '../../src/persistence/database-target.ts';
import { applyMigrations } from '../../src/persistence/migrations.ts';
import { closeDatabase, openDatabase, type OpenedDatabase } from '../../src/persistence/prisma-client.ts';
import { createDatabaseReplayCache } from '../../src/persistence/database-replay-cache.ts';
import { connectRedis, type RedisConnection } from '../../src/persistence/redis-connection.ts';
import { createRedisReplayCache } from '../../src/persistence/redis-replay-cache.ts';
import { createSerialGate, openGate } from '../../src/persistence/sqlite-gate.ts';
import type { Clock } from '../../src/shared/clock.ts';
import { createLogger } from '../../src/shared/logger.ts';
import type { ReplayCache } from '../../src/tokens/replay-cache.ts';
import { createTestDatabase, type TestDatabase } from './test-database.ts';

export type ReplayCacheFactory = (clock: Clock) => ReplayCache;

/**
 * Runs `suite` once per ReplayCache implementation: the database one on a fresh test database
 * (DATABASE_URL picks the engine), and the Redis one when REDIS_URL is set (skipped otherwise,
 * so a laptop without Redis does not fail).
 */
export function forEachReplayCache(title: string, suite: (name: string, make: ReplayCacheFactory) => void): void {
  describe(title, () => {
    let database: TestDatabase;
    let opened: OpenedDatabase;
    let redis: RedisConnection | undefined;
    before(async () => {
      database = await createTestDatabase();
      const target = parseDatabaseUrl(database.url)!;
      await applyMigrations(target);
      opened = await openDatabase(target);
      if (process.env.REDIS_URL) redis = await connectRedis(process.env.REDIS_URL, createLogger('silent'));
    });
    after(async () => {
      await closeDatabase(opened);
      await database.drop();
      if (redis) await redis.close();
    });

    suite('database', (clock) => createDatabaseReplayCache(opened, database.provider === 'sqlite' ? createSerialGate() : openGate, clock));
    describe('redis', { skip: process.env.REDIS_URL ? false : 'REDIS_URL is not set' }, () => {
      suite('redis', (clock) => createRedisReplayCache(redis!, clock, `idb-test:${randomUUID()}:`));
    });
  });
}
