import type { Clock } from '../shared/clock.ts';
import { StorageUnavailable } from '../shared/errors.ts';
import type { ReplayCache } from '../tokens/replay-cache.ts';
import type { OpenedDatabase } from './prisma-client.ts';
import { translateErrors } from './prisma-errors.ts';
import type { Gate } from './sqlite-gate.ts';

/** Expired entries are deleted every this many uses, keeping the table near the live set. */
const PRUNE_EVERY = 500;

/** Times as each driver's column holds them (the Prisma adapters' own forms): ISO text on SQLite, UTC timestamp(3) text on PostgreSQL. */
const sqliteTime = (d: Date) => d.toISOString().replace('Z', '+00:00');
const postgresTime = (d: Date) => d.toISOString().replace('T', ' ').replace('Z', '');

/**
 * The database's primary key decides the first use, across instances and concurrent requests: one
 * upsert that inserts the key, or reclaims a leftover whose expiry has passed, and changes nothing
 * when a live entry holds it (a replay). It runs on every private_key_jwt and DPoP request, so it is
 * one statement on the driver under Prisma Client (prepared once), like the audit batch;
 * test/persistence/replay-cache.contract.test.ts runs it on both databases. Pruning stays Prisma's.
 */
export function createDatabaseReplayCache(opened: OpenedDatabase, gate: Gate, clock: Clock): ReplayCache {
  const { db, driver } = opened;
  let uses = 0;
  let claim: (key: string, expiresAt: Date, now: Date) => Promise<boolean>;
  if (driver.provider === 'sqlite') {
    const upsert = driver.database.prepare(`INSERT INTO "ReplayEntry" ("key", "expiresAt") VALUES (@key, @expiresAt)
      ON CONFLICT ("key") DO UPDATE SET "expiresAt" = excluded."expiresAt" WHERE "ReplayEntry"."expiresAt" < @now`);
    claim = async (key, expiresAt, now) => upsert.run({ key, expiresAt: sqliteTime(expiresAt), now: sqliteTime(now) }).changes === 1;
  } else {
    const text = `INSERT INTO "ReplayEntry" ("key", "expiresAt") VALUES ($1, $2::timestamp(3))
      ON CONFLICT ("key") DO UPDATE SET "expiresAt" = EXCLUDED."expiresAt" WHERE "ReplayEntry"."expiresAt" < $3::timestamp(3)`;
    claim = async (key, expiresAt, now) =>
      (await driver.pool.query({ name: 'identity_replay_claim', text, values: [key, postgresTime(expiresAt), postgresTime(now)] })).rowCount === 1;
  }
  return {
    useOnce: (key, expiresAt) => gate.run(async () => {
      if (++uses % PRUNE_EVERY === 0) {
        await translateErrors(() => db.replayEntry.deleteMany({ where: { expiresAt: { lt: clock.now() } } }));
      }
      try {
        return await claim(key, expiresAt, clock.now());
      } catch (error) {
        throw new StorageUnavailable('the replay cache did not answer', { cause: error });
      }
    }),
  };
}
