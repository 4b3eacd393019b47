import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { loadMigrationList } from '../src/persistence/migrations.ts';
import {
  drillEnv, killServices, requestToken, serviceVars, sleep, spawnBuilt, startDrillService, terminate, tokensWithoutAuditRow,
} from './helpers/drill.ts';
import { createSharedPgDatabase } from './helpers/services.ts';

/** Every model of schema.prisma is a table (sorted as both databases sort them below). */
const EXPECTED_TABLES = [...readFileSync(new URL('../prisma/schema.prisma', import.meta.url), 'utf8').matchAll(/^model (\w+) \{/gm)].map((m) => m[1]!).sort();
const migrationCount = loadMigrationList({ provider: 'sqlite' }).migrationDirectories.length;

async function migrationRows(client: pg.Client): Promise<number> {
  const present = (await client.query(`SELECT to_regclass('"_prisma_migrations"') IS NOT NULL AS p`)).rows[0].p as boolean;
  return present ? Number((await client.query('SELECT count(*) AS n FROM "_prisma_migrations"')).rows[0].n) : 0;
}

/** Migrations finished and unfinished (neither rolled back), and the service's tables, as the database holds them. */
async function schemaState(url: string): Promise<{ unfinished: number; finished: number; tables: string[] }> {
  const live = `"rolled_back_at" IS NULL`;
  if (url.startsWith('file:')) {
    const db = new BetterSqlite3(url.slice(5), { readonly: true });
    try {
      const n = (sql: string) => Number((db.prepare(sql).get() as { n: number }).n);
      return {
        unfinished: n(`SELECT count(*) AS n FROM "_prisma_migrations" WHERE "finished_at" IS NULL AND ${live}`),
        finished: n(`SELECT count(*) AS n FROM "_prisma_migrations" WHERE "finished_at" IS NOT NULL AND ${live}`),
        tables: (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_prisma_migrations' ORDER BY name`).all() as Array<{ name: string }>).map((r) => r.name),
      };
    } finally {
      db.close();
    }
  }
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const n = async (sql: string) => Number((await c.query(sql)).rows[0].n);
    return {
      unfinished: await n(`SELECT count(*) AS n FROM "_prisma_migrations" WHERE "finished_at" IS NULL AND ${live}`),
      finished: await n(`SELECT count(*) AS n FROM "_prisma_migrations" WHERE "finished_at" IS NOT NULL AND ${live}`),
      tables: (await c.query(`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_prisma_migrations' ORDER BY tablename COLLATE "C"`)).rows.map((r: { name: string }) => r.name),
    };
  } finally {
    await c.end();
  }
}

/** Start-up never guesses: what is not this service's database, or cannot be opened, is refused. */
describe('start-up refusals and interrupted first migrations', () => {
  const env = drillEnv();
  after(async () => {
    await killServices();
    env.remove();
  });

  async function refused(t: { diagnostic(s: string): void }, name: string, vars: Record<string, string>, pattern: RegExp) {
    const proc = spawnBuilt(serviceVars(env, vars));
    const exit = await proc.exited;
    const lines = proc.stderr().trim().split('\n');
    t.diagnostic(`${name}: exit ${exit.code}: ${lines.at(-1)}`);
    assert.equal(exit.code, 1);
    assert.equal(lines.length, 1, proc.stderr());
    assert.match(lines[0]!, pattern);
    assert.doesNotMatch(proc.stdout(), /listening/);
  }

  it('a zero-length, a non-SQLite, or another application\'s SQLite file, or another application\'s PostgreSQL database, is refused, not made a new deployment', async (t) => {
    const empty = path.join(env.dir, 'empty.db');
    closeSync(openSync(empty, 'w'));
    await refused(t, 'zero-length database file', { DATABASE_URL: `file:${empty}` }, /is an empty file; refusing to start/);
    const text = path.join(env.dir, 'text.db');
    writeFileSync(text, 'not a database\n');
    await refused(t, 'foreign (non-SQLite) file', { DATABASE_URL: `file:${text}` }, /is not a SQLite database/);
    const other = path.join(env.dir, 'other.db');
    const db = new BetterSqlite3(other);
    db.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY)');
    db.close();
    await refused(t, 'another application\'s SQLite database', { DATABASE_URL: `file:${other}` }, /holds another application's tables \(invoices\)/);
    const foreign = await createSharedPgDatabase();
    try {
      const c = new pg.Client({ connectionString: foreign.url });
      await c.connect();
      await c.query('CREATE TABLE invoices (id int PRIMARY KEY)');
      await c.end();
      await refused(t, 'another application\'s PostgreSQL database', { DATABASE_URL: foreign.url }, /holds another application's tables \(invoices\); refusing to start/);
    } finally {
      await foreign.drop();
    }
    assert.equal((new BetterSqlite3(other, { readonly: true }).prepare(`SELECT count(*) AS n FROM sqlite_master WHERE name = 'Client'`).get() as { n: number }).n, 0, 'nothing created in it');
  });

  /**
   * SIGKILL while the first start migrates: on SQLite the file is built beside its name (a kill
   * leaves no file, or a staging file the next start replaces); on PostgreSQL each migration is one
   * transaction, and a row "started, not finished" is repaired. Either way the next start serves.
   */
  for (const provider of ['sqlite', 'postgresql'] as const) {
    it(`SIGKILL during the first migration (${provider}): the next start migrates and serves, with the complete schema`, async (t) => {
      const shared = provider === 'postgresql' ? await createSharedPgDatabase() : undefined;
      const url = shared?.url ?? `file:${path.join(env.dir, 'first.db')}`;
      const file = url.startsWith('file:') ? url.slice(5) : undefined;
      const observer = shared ? new pg.Client({ connectionString: shared.url }) : undefined;
      await observer?.connect();
      try {
        const kills: string[] = [];
        // Two kills, each as soon as migrating is seen under way, the second a little later.
        for (let attempt = 0; attempt < 2; attempt++) {
          // What "under way" means for this process: a staging file it made, a migration row it added.
          const spawnedAt = Date.now();
          const rowsBefore = observer ? await migrationRows(observer) : 0;
          const proc = spawnBuilt(serviceVars(env, { DATABASE_URL: url }));
          const started = performance.now();
          for (;;) {
            const migrating = file
              ? (statSync(`${file}.initializing`, { throwIfNoEntry: false })?.birthtimeMs ?? 0) >= spawnedAt - 5
              : (await migrationRows(observer!)) > rowsBefore;
            if (migrating || proc.child.exitCode !== null || performance.now() - started > 60_000) break;
            await sleep(file ? 1 : 5);
          }
          await sleep(attempt * 25);
          proc.child.kill('SIGKILL');
          await proc.exited;
          const state = file
            ? `file ${existsSync(file) ? 'present' : 'absent'}, staging ${existsSync(`${file}.initializing`) ? 'present' : 'absent'}`
            : `migrations recorded ${JSON.stringify((await observer!.query(`SELECT migration_name, finished_at IS NOT NULL AS finished FROM "_prisma_migrations" ORDER BY started_at`).catch(() => ({ rows: [] }))).rows.map((r: { finished: boolean }) => r.finished))}`;
          kills.push(`kill ${attempt + 1} after ${((performance.now() - started) / 1000).toFixed(2)} s: ${state}`);
        }
        const service = await startDrillService(env, { DATABASE_URL: url });
        const token = await requestToken(service);
        const repaired = service.logLines(/interrupted migrations found/);
        await terminate(service);
        t.diagnostic(`SIGKILL during the first migration (${provider}): ${kills.join('; ')}; then started and issued (${token.status}); repaired rows logged: ${repaired.length}`);
        assert.equal(token.status, 200);
        assert.deepEqual(await schemaState(url), { unfinished: 0, finished: migrationCount, tables: EXPECTED_TABLES }, 'the schema is complete');
        assert.deepEqual((await tokensWithoutAuditRow([token], url)).missing, []);
      } finally {
        await observer?.end();
        await shared?.drop();
      }
    });
  }

  it('a database whose signing keys cannot be decrypted (another KEY_ENCRYPTION_KEY) is refused', async (t) => {
    // The SQLite database the previous drill ended with: started, keys made, a token issued.
    const file = path.join(env.dir, 'first.db');
    assert.ok(existsSync(file), 'the first-migration drill ran first');
    await refused(t, 'undecryptable signing keys', { DATABASE_URL: `file:${file}`, KEY_ENCRYPTION_KEY: 'ab'.repeat(32) }, /cannot be decrypted/);
    const proc = spawnBuilt(serviceVars(env, { DATABASE_URL: `file:${file}` }));
    await proc.waitForStdout(/identity-backend listening/);
    proc.child.kill('SIGTERM');
    assert.equal((await proc.exited).code, 0, 'the right key still opens it: nothing was replaced');
  });
});
