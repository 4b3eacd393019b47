import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { createClient } from '@redis/client';
import { startTestService, type TestService } from './start-app.ts';
import { testDatabaseProvider } from './test-database.ts';

/** Polls until `done` answers true; the milliseconds it took, or undefined after `limitMs`. */
export async function msUntil(done: () => Promise<boolean>, limitMs: number): Promise<number | undefined> {
  const start = performance.now();
  while (performance.now() - start < limitMs) {
    if (await done()) return performance.now() - start;
    await new Promise((r) => setTimeout(r, 5));
  }
  return undefined;
}

/**
 * REDIS_URL for one deployment under test, with a key prefix of its own: Redis outlives a test run
 * (day counters stay 24 h) and the test files running beside this one use it too, as deployments
 * whose counters, replay entries and change messages must not reach this one. Commands get more
 * time than the default 500 ms, so a pause of this busy machine is not taken for Redis being down.
 */
export function redisTestEnv(): Record<string, string> {
  return { REDIS_URL: process.env.REDIS_URL ?? '', REDIS_KEY_PREFIX: `test-${randomUUID()}:`, REDIS_COMMAND_TIMEOUT: '5s' };
}

export type ChangeFeedUnderTest = { name: 'PostgreSQL LISTEN/NOTIFY' | 'Redis pub/sub'; env: Record<string, string>; skip: string | false };

/**
 * The change feeds that carry changes between instances of one deployment on the database under
 * test: LISTEN/NOTIFY on a shared PostgreSQL database, or Redis pub/sub beside one SQLite file.
 * Each is skipped, with the reason, where it cannot run.
 */
export function changeFeeds(): ChangeFeedUnderTest[] {
  const provider = testDatabaseProvider();
  const redisUrl = process.env.REDIS_URL;
  return [
    { name: 'PostgreSQL LISTEN/NOTIFY', env: {}, skip: provider === 'postgresql' ? false : 'needs PostgreSQL (DATABASE_URL)' },
    {
      name: 'Redis pub/sub',
      env: redisTestEnv(),
      skip: provider !== 'sqlite' ? 'the Redis feed is used on SQLite only' : !redisUrl ? 'REDIS_URL is not set' : false,
    },
  ];
}

/**
 * A second instance of A's deployment: its database and key directory. Beside one SQLite file it
 * cannot migrate (the schema engine locks the file), nor needs to.
 */
export function startSecondInstance(a: TestService, env: Record<string, string>): Promise<TestService> {
  return startTestService(env, { database: a.database, keysDir: a.keysDir, migrate: a.database.provider !== 'sqlite' });
}

/**
 * Cuts the feed's connections from the server side, as a restart or failover would: those of every
 * instance of this deployment (its database; on Redis, its subscribers, named after its channel),
 * and no one else's.
 */
export async function dropFeedConnections(feed: string, t: TestService): Promise<void> {
  if (feed === 'PostgreSQL LISTEN/NOTIFY') {
    const admin = new pg.Client({ connectionString: t.database.url });
    await admin.connect();
    try {
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`);
    } finally {
      await admin.end();
    }
    return;
  }
  const redis = createClient({ url: process.env.REDIS_URL });
  await redis.connect();
  try {
    const name = `${t.config.redisKeyPrefix}changes`;
    const list = String(await redis.sendCommand(['CLIENT', 'LIST', 'TYPE', 'pubsub']));
    const ids = list.split('\n').filter((line) => line.split(' ').includes(`name=${name}`)).map((line) => /^id=(\d+)/.exec(line)?.[1]).filter((id) => id !== undefined);
    if (!ids.length) throw new Error(`no subscriber named ${name} on Redis`);
    for (const id of ids) await redis.sendCommand(['CLIENT', 'KILL', 'ID', id]);
  } finally {
    await redis.close();
  }
}
