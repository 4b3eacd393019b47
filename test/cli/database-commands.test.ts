import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI_BIN, ensureCliBuilt, jsonOf, runCli } from '../helpers/cli.ts';
import { freePort } from '../helpers/free-port.ts';
import { childEnv, LISTENING, PROJECT_ROOT } from '../helpers/service-process.ts';
import { BOOTSTRAP_SECRET, startTestService, type TestService } from '../helpers/start-app.ts';
import { createTestDatabase, testDatabaseProvider, type TestDatabase } from '../helpers/test-database.ts';

/** Retries `check` until it passes; 15 s is far beyond the change feed's own bound (about 1 s). */
async function eventually(check: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

const migrationNames = () => readdirSync(path.join(PROJECT_ROOT, 'prisma/migrations', testDatabaseProvider()), { withFileTypes: true })
  .filter((d) => d.isDirectory()).map((d) => d.name).sort();

describe('identity-backend migrate (on DATABASE_URL)', () => {
  let db: TestDatabase;
  before(async () => {
    await ensureCliBuilt();
    db = await createTestDatabase();
  });
  after(() => db?.drop());

  it('applies every migration to an empty database, then reports it up to date', async () => {
    const first = await runCli(['migrate', '--json'], { DATABASE_URL: db.url });
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(jsonOf(first), { applied: migrationNames() });
    const again = await runCli(['migrate'], { DATABASE_URL: db.url });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'the database is up to date\n');
  });

  it('exits 3 with one line when the database cannot be reached, and 1 naming the variable for a bad configuration', async () => {
    const closed = `postgresql://postgres@127.0.0.1:${await freePort()}/nothing`;
    const unreachable = await runCli(['migrate'], { DATABASE_URL: closed });
    assert.equal(unreachable.code, 3, unreachable.stderr);
    assert.match(unreachable.stderr.trimEnd(), /^identity-backend: cannot reach the database at 127\.0\.0\.1:\d+ \(\S+\)$/);
    const bad = await runCli(['migrate'], { DATABASE_URL: db.url, ACCESS_TOKEN_TTL: 'soon' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr.trimEnd(), /^identity-backend: configuration error: ACCESS_TOKEN_TTL: [^\n]+$/);
  });
});

describe('identity-backend admin reset-secret and keys --database (beside a running service)', () => {
  let t: TestService;
  let env: Record<string, string>;

  before(async () => {
    await ensureCliBuilt();
    t = await startTestService();
    env = { NODE_ENV: 'test', DATABASE_URL: t.database.url, KEYS_DIR: t.keysDir, ISSUER: t.config.issuer, LOG_LEVEL: 'warn' };
  });
  after(() => t?.stop());

  it('keys list --database prints the same key set as the admin API', async () => {
    const api = await t.agent.get('/admin/keys').set('authorization', `Bearer ${await t.adminToken()}`);
    const run = await runCli(['keys', 'list', '--database', '--json'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(jsonOf(run), api.body);
    const revoke = await runCli(['keys', '--database', 'revoke', 'no-such-kid'], env);
    assert.equal(revoke.code, 5);
    assert.equal(revoke.stderr, 'identity-backend: no signing key "no-such-kid"\n');
  });

  it('keys kek-status reports what the key-encryption key protects (exit 0: every signing key opens), as the service keeps it', async () => {
    const run = await runCli(['--json', 'keys', 'kek-status'], env);
    assert.equal(run.code, 0, run.stderr);
    const report = jsonOf<{ current: string; keys: Array<{ kekId: string; role: string; signingKeys: string[] }>; unopenableSigningKeys: string[] }>(run);
    const kids = (await t.agent.get('/admin/keys').set('authorization', `Bearer ${await t.adminToken()}`)).body.items.map((k: { kid: string }) => k.kid);
    assert.deepEqual(report.keys.map((k) => [k.kekId, k.role, [...k.signingKeys].sort()]), [[report.current, 'current', [...kids].sort()]]);
    assert.deepEqual(report.unopenableSigningKeys, []);
    const text = await runCli(['keys', 'kek-status'], env);
    assert.match(text.stdout, new RegExp(`^kek ${report.current}  KEY_ENCRYPTION_KEY +signing keys: ${kids.length} `, 'm'));
  });

  it('admin reset-secret prints a new admin secret alone on stdout; it opens the admin API and the old one stops', async () => {
    const run = await runCli(['admin', 'reset-secret'], env);
    assert.equal(run.code, 0, run.stderr);
    const secret = run.stdout.trim();
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    assert.match(run.stderr, /client "admin" reset; every earlier secret has stopped working/);
    // Another process changed the database: the running service hears of it through its change feed
    // (on SQLite a change counter polled every second), so the old secret stops within moments.
    await eventually(() => assert.rejects(t.tokenFor('admin', BOOTSTRAP_SECRET), /401/));
    await eventually(async () => {
      const listed = await runCli(['clients', 'list', '--json'], { IDENTITY_URL: t.url, IDENTITY_ADMIN_SECRET: secret });
      assert.equal(listed.code, 0, listed.stderr);
    });
    const again = jsonOf(await runCli(['--json', 'admin', 'reset-secret'], env));
    assert.deepEqual(Object.keys(again).sort(), ['client_id', 'client_secret', 'created', 'restored']);
    assert.equal(again.client_id, 'admin');
    await eventually(async () => {
      await t.tokenFor('admin', String(again.client_secret));
    });
    const reset = await t.auditEvents({ type: 'client.secret_rotated', clientId: 'admin' });
    assert.ok(reset.length >= 2 && reset.every((e) => (e.details as { actor?: string }).actor?.startsWith('cli:')));
  });

  it('admin reset-secret of an unknown client exits 5 with one line', async () => {
    const run = await runCli(['admin', 'reset-secret', 'nobody'], env);
    assert.equal(run.code, 5);
    assert.equal(run.stdout, '');
    assert.equal(run.stderr, 'identity-backend: no client "nobody"\n');
  });
});

describe('identity-backend serve', () => {
  let db: TestDatabase;
  let keysDir: string;
  before(async () => {
    await ensureCliBuilt();
    db = await createTestDatabase();
    keysDir = mkdtempSync(path.join(tmpdir(), 'idb-cli-keys-'));
  });
  after(async () => {
    await db?.drop();
    rmSync(keysDir, { recursive: true, force: true });
  });

  it('runs the service until SIGTERM, then exits 0', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [CLI_BIN, 'serve'], {
      cwd: PROJECT_ROOT,
      env: childEnv({ PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: db.url, KEYS_DIR: keysDir, LOG_LEVEL: 'info' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      for (let i = 0; i < 600 && !LISTENING.test(out) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(out, LISTENING, `listening (stderr: ${err})`);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      assert.equal(ready.status, 200);
      assert.match(err, /Bootstrap admin client "admin" created/);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, err);
  });
});
