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
      env: { REDIS_URL: redisUrl ?? '' },
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

/** Cuts the feed's connections from the server side, as a restart or failover would (every instance's on this database). */
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
    await redis.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
  } finally {
    await redis.close();
  }
}
