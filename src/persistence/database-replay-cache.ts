import type BetterSqlite3 from 'better-sqlite3';
import type pg from 'pg';
import type { Clock } from '../shared/clock.ts';
import { StorageUnavailable } from '../shared/errors.ts';
import { createMicroBatcher } from '../shared/micro-batcher.ts';
import type { ReplayCache } from '../tokens/replay-cache.ts';
import type { OpenedDatabase } from './prisma-client.ts';
import { translateErrors } from './prisma-errors.ts';
import type { Gate } from './sqlite-gate.ts';

/** Expired entries are deleted every this many uses, keeping the table near the live set. */
const PRUNE_EVERY = 500;
/** Claims per statement (PostgreSQL) or transaction (SQLite). */
const MAX_BATCH = 256;
/**
 * Claim batches at once: one on SQLite (one connection, and better-sqlite3 runs a transaction
 * synchronously anyway); on PostgreSQL a few, leaving most of the pool to the audit writer.
 */
const IN_FLIGHT = { sqlite: 1, postgresql: 3 } as const;

/** Times as each driver's column holds them (the Prisma adapters' own forms): ISO text on SQLite, UTC timestamp(3) text on PostgreSQL. */
const sqliteTime = (d: Date) => d.toISOString().replace('Z', '+00:00');
const postgresTime = (d: Date) => d.toISOString().replace('T', ' ').replace('Z', '');

type Claim = { key: string; expiresAt: Date };
/** Claims a batch of keys at the instant `now`: true for each key this batch used first. */
type ClaimBatch = (claims: readonly Claim[], now: Date) => Promise<boolean[]>;

/**
 * SQLite: the single-key upsert, prepared once, run for every claim of the batch inside one
 * IMMEDIATE transaction: one commit (one WAL sync under synchronous=FULL) for the whole batch. A key
 * twice in one batch is claimed by its first copy; the second sees a live entry and changes nothing.
 */
function sqliteClaims(database: BetterSqlite3.Database, gate: Gate): ClaimBatch {
  const upsert = database.prepare(`INSERT INTO "ReplayEntry" ("key", "expiresAt") VALUES (@key, @expiresAt)
    ON CONFLICT ("key") DO UPDATE SET "expiresAt" = excluded."expiresAt" WHERE "ReplayEntry"."expiresAt" < @now`);
  const claimAll = database.transaction((claims: readonly Claim[], now: string) =>
    claims.map((c) => upsert.run({ key: c.key, expiresAt: sqliteTime(c.expiresAt), now }).changes === 1));
  return (claims, now) => gate.run(async () => claimAll.immediate(claims, sqliteTime(now)));
}

/**
 * PostgreSQL: one named statement for any batch size, keys passed as arrays and expanded by unnest,
 * one round trip and one commit. RETURNING names the keys this statement inserted or reclaimed.
 * ON CONFLICT DO UPDATE may not touch a row twice in one statement, so a key that appears twice in
 * a batch is sent once: its first copy claims it, the others are replays.
 */
function postgresClaims(pool: pg.Pool): ClaimBatch {
  const text = `INSERT INTO "ReplayEntry" ("key", "expiresAt") SELECT * FROM unnest($1::text[], $2::timestamp(3)[])
    ON CONFLICT ("key") DO UPDATE SET "expiresAt" = EXCLUDED."expiresAt" WHERE "ReplayEntry"."expiresAt" < $3::timestamp(3)
    RETURNING "key"`;
  return async (claims, now) => {
    const first = new Map<string, Claim>();
    for (const c of claims) if (!first.has(c.key)) first.set(c.key, c);
    const unique = [...first.values()];
    const { rows } = await pool.query<{ key: string }>({
      name: 'identity_replay_claims',
      text,
      values: [unique.map((c) => c.key), unique.map((c) => postgresTime(c.expiresAt)), postgresTime(now)],
    });
    const claimed = new Set(rows.map((r) => r.key));
    return claims.map((c) => first.get(c.key) === c && claimed.has(c.key));
  };
}

/**
 * The database's primary key decides the first use, across instances and concurrent requests: an
 * upsert that inserts the key, or reclaims a leftover whose expiry has passed, and changes nothing
 * when a live entry holds it (a replay). It runs on every private_key_jwt and DPoP request, so the
 * claims of concurrent requests are batched into one statement or transaction on the driver under
 * Prisma Client (prepared once), like the audit batch; test/persistence/hot-path-statements.contract.test.ts
 * runs both on both databases. Pruning stays Prisma's.
 */
export function createDatabaseReplayCache(opened: OpenedDatabase, gate: Gate, clock: Clock): ReplayCache {
  const { db, driver } = opened;
  const claimBatch = driver.provider === 'sqlite' ? sqliteClaims(driver.database, gate) : postgresClaims(driver.pool);
  let uses = 0;
  const claim = createMicroBatcher<Claim, boolean>(async (claims) => {
    const before = uses;
    uses += claims.length;
    if (Math.floor(uses / PRUNE_EVERY) > Math.floor(before / PRUNE_EVERY)) {
      await translateErrors(() => gate.run(() => db.replayEntry.deleteMany({ where: { expiresAt: { lt: clock.now() } } })));
    }
    try {
      return await claimBatch(claims, clock.now());
    } catch (error) {
      throw new StorageUnavailable('the replay cache did not answer', { cause: error });
    }
  }, { maxBatch: MAX_BATCH, maxInFlight: IN_FLIGHT[driver.provider] });
  return { useOnce: (key, expiresAt) => claim({ key, expiresAt }) };
}
