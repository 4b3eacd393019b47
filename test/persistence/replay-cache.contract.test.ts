import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { parseDatabaseUrl } from '../../src/persistence/database-target.ts';
import { applyMigrations } from '../../src/persistence/migrations.ts';
import { closeDatabase, openDatabase, type Db, type OpenedDatabase } from '../../src/persistence/prisma-client.ts';
import { createPrismaReplayCache } from '../../src/persistence/prisma-replay-cache.ts';
import { connectRedis, type RedisConnection } from '../../src/persistence/redis-connection.ts';
import { createRedisReplayCache } from '../../src/persistence/redis-replay-cache.ts';
import { createSerialGate, openGate } from '../../src/persistence/sqlite-gate.ts';
import { createLogger } from '../../src/shared/logger.ts';
import type { ReplayCache } from '../../src/tokens/replay-cache.ts';
import { createTestClock } from '../helpers/test-clock.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

const clock = createTestClock();
const inSeconds = (s: number) => new Date(clock.now().getTime() + s * 1000);

/** The behaviour every ReplayCache must have (STYLE §2.8: one suite, every implementation). */
export function replayCacheContract(name: string, make: () => ReplayCache) {
  describe(`${name} replay cache (contract)`, () => {
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
      clock.advance(0);
      assert.equal(await cache.useOnce(key, inSeconds(60)), true);
    });
  });
}

describe('replay caches', () => {
  let database: TestDatabase;
  let db: Db;
  let opened: OpenedDatabase;
  let redis: RedisConnection | undefined;
  before(async () => {
    database = await createTestDatabase();
    const target = parseDatabaseUrl(database.url)!;
    await applyMigrations(target);
    opened = await openDatabase(target);
    db = opened.db;
    if (process.env.REDIS_URL) redis = await connectRedis(process.env.REDIS_URL, createLogger('silent'));
  });
  after(async () => {
    await closeDatabase(opened);
    await database.drop();
    if (redis) await redis.close();
  });

  replayCacheContract('database', () => createPrismaReplayCache(db, database.provider === 'sqlite' ? createSerialGate() : openGate, clock));
  // Redis runs in CI (REDIS_URL); a laptop without it skips this half rather than failing.
  describe('redis', { skip: process.env.REDIS_URL ? false : 'REDIS_URL is not set' }, () => {
    replayCacheContract('redis', () => createRedisReplayCache(redis!, `idb-test:${randomUUID()}:`));
  });
});
