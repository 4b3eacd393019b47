import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { childEnv, killAll, LISTENING, PROJECT_ROOT, spawnService } from '../helpers/service-process.ts';
import { createTestDatabase, testDatabaseProvider, type TestDatabase } from '../helpers/test-database.ts';

/**
 * What the kit's Deployment relies on: its migrate init container (node dist/migrate.js; here
 * src/migrate.ts through tsx) and the service's own start-up may run in several pods at the same
 * moment against one fresh database. Two migrate steps and two replicas start together here.
 */

const START_MS = 90_000;
const migrationNames = (provider: 'sqlite' | 'postgresql') =>
  readdirSync(path.join(PROJECT_ROOT, 'prisma/migrations', provider), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

function runMigrate(vars: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/migrate.ts'], { cwd: PROJECT_ROOT, env: childEnv(vars), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

function deploymentEnv(database: TestDatabase, keysDir: string): Record<string, string> {
  return {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_URL: database.url,
    ISSUER: 'https://identity.example.com',
    KEY_ENCRYPTION_KEY: KEK,
    BOOTSTRAP_ADMIN_CLIENT_SECRET: BOOTSTRAP,
    KEYS_DIR: keysDir,
    LOG_LEVEL: 'info',
  };
}

const KEK = randomBytes(32).toString('hex');
const BOOTSTRAP = randomBytes(32).toString('base64url');

describe('the migrate step', () => {
  let database: TestDatabase;
  let keysDir: string;
  before(async () => {
    database = await createTestDatabase();
    keysDir = mkdtempSync(path.join(tmpdir(), 'idb-migrate-'));
  });
  after(async () => {
    await killAll();
    await database?.drop();
    rmSync(keysDir, { recursive: true, force: true });
  });

  it('applies every migration, then finds nothing to do; a bad configuration stops it with one line', async () => {
    const env = deploymentEnv(database, keysDir);
    const first = await runMigrate(env);
    assert.equal(first.code, 0, first.stderr);
    const applied = JSON.parse(first.stdout.trim().split('\n').at(-1)!) as { migrations: string[]; msg: string };
    assert.deepEqual(applied.migrations, migrationNames(database.provider));
    const second = await runMigrate(env);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /"migrations":\[\].*"database schema up to date"/);
    const { KEY_ENCRYPTION_KEY: _omitted, ...withoutKey } = env;
    const refused = await runMigrate(withoutKey);
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr.trim(), 'identity-backend: configuration error: KEY_ENCRYPTION_KEY: required when NODE_ENV=production');
  });
});

describe('several pods starting at once on one fresh PostgreSQL database', {
  skip: testDatabaseProvider() === 'postgresql' ? false : 'needs DATABASE_URL=postgresql://… (several replicas need a database server; SQLite serves one)',
}, () => {
  let database: TestDatabase;
  let keysDir: string;
  before(async () => {
    database = await createTestDatabase();
    keysDir = mkdtempSync(path.join(tmpdir(), 'idb-concurrent-'));
  });
  after(async () => {
    await killAll();
    await database?.drop();
    rmSync(keysDir, { recursive: true, force: true });
  });

  it('every migrate step and every replica succeeds: migrations once, one signing key set, one bootstrap admin', async () => {
    const env = deploymentEnv(database, keysDir);
    const migrations = [runMigrate(env), runMigrate(env)];
    const replicas = [spawnService(env), spawnService(env)];
    const done = await Promise.all(migrations);
    for (const m of done) assert.equal(m.code, 0, m.stderr);
    await Promise.all(replicas.map((r) => r.waitForStdout(LISTENING, START_MS)));
    // Between them, the migrations were applied exactly once.
    const applied = done.flatMap((m) => (JSON.parse(m.stdout.trim().split('\n').at(-1)!) as { migrations: string[] }).migrations);
    const logged = replicas.flatMap((r) => r.stdout().split('\n').filter((l) => l.includes('"database migrations applied"'))
      .flatMap((l) => (JSON.parse(l) as { migrations: string[] }).migrations));
    assert.deepEqual([...applied, ...logged].sort(), migrationNames('postgresql'));

    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const rows = (await client.query<{ migration_name: string; finished: boolean; rolled_back: boolean }>(
        'SELECT migration_name, finished_at IS NOT NULL AS finished, rolled_back_at IS NOT NULL AS rolled_back FROM _prisma_migrations ORDER BY migration_name')).rows;
      assert.deepEqual(rows.map((r) => [r.migration_name, r.finished, r.rolled_back]), migrationNames('postgresql').map((n) => [n, true, false]));
      const keys = (await client.query<{ state: string; n: string }>('SELECT state, count(*) AS n FROM "SigningKey" GROUP BY state ORDER BY state')).rows;
      assert.deepEqual(keys.map((k) => [k.state, Number(k.n)]), [['active', 1], ['next', 1]]);
      assert.equal(Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM "Client"')).rows[0]!.n), 1);
    } finally {
      await client.end();
    }
    for (const r of replicas) assert.doesNotMatch(r.stderr(), /\S/, 'nothing on stderr (no generated secret printed, no error)');
  });
});
