import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { BOOTSTRAP_SECRET, startTestService, type TestService } from '../../helpers/start-app.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/test-database.ts';

/**
 * The operator cannot be locked out (AD-08): a restart under another ISSUER moves the admin
 * audience with it (refused in production until confirmed), and `npm run admin -- reset-secret`
 * gives the bootstrap admin back on the database directly, whatever happened to it.
 */

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const execFileAsync = promisify(execFile);

describe('ISSUER changes and operator recovery', () => {
  let database: TestDatabase;
  let keysDir: string;
  const kek = randomBytes(32).toString('base64url');
  const shared = () => ({ database, keysDir });
  const start = (env: Record<string, string> = {}) => startTestService({ KEY_ENCRYPTION_KEY: kek, ...env }, shared());

  before(async () => {
    database = await createTestDatabase();
    keysDir = mkdtempSync(path.join(tmpdir(), 'idb-keys-'));
  });
  after(async () => {
    await database.drop();
    rmSync(keysDir, { recursive: true, force: true });
  });

  async function bootstrapAdminWorks(t: TestService): Promise<void> {
    const token = await t.tokenFor(t.config.bootstrapAdmin.clientId, BOOTSTRAP_SECRET);
    const res = await t.agent.get('/admin/clients').set('authorization', `Bearer ${token}`);
    assert.equal(res.status, 200, `the operator can administer under ${t.config.issuer}: ${res.text}`);
  }

  async function sql(statement: string): Promise<void> {
    if (database.provider === 'postgresql') {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        await client.query(statement);
      } finally {
        await client.end();
      }
      return;
    }
    const db = new Database(database.url.replace(/^file:/, ''));
    try {
      db.exec(statement);
    } finally {
      db.close();
    }
  }

  let firstIssuer: string;

  it('AD-08 moves the admin audience of every admin client to the new ISSUER on restart, audited and logged; service audiences stay', async () => {
    const first = await start();
    firstIssuer = first.config.issuer;
    await first.registerClient({ client_id: 'c-ops', scope: 'admin:clients', audience: [`${firstIssuer}/admin`, 'https://orders.internal'] });
    await first.registerClient({ client_id: 'c-orders' });
    await first.stop();

    const second = await start();
    try {
      assert.notEqual(second.config.issuer, firstIssuer);
      await bootstrapAdminWorks(second);
      const ops = await second.container.uow.stores.clients.findById('c-ops');
      assert.deepEqual(ops?.audience, [`${second.config.issuer}/admin`, 'https://orders.internal']);
      assert.deepEqual((await second.container.uow.stores.clients.findById('c-orders'))?.audience, ['https://orders.internal']);
      const moved = (await second.auditEvents({ type: 'client.updated' })).filter((e) => e.details?.reason === 'issuer_changed');
      assert.deepEqual(moved.map((e) => e.clientId).sort(), [second.config.bootstrapAdmin.clientId, 'c-ops'].sort());
      assert.equal(moved[0]!.details?.previous_issuer, firstIssuer);
      const warning = second.logLines.map((l) => JSON.parse(l)).find((l) => /ISSUER changed/.test(l.msg));
      assert.ok(warning, 'the change is logged');
      assert.equal(warning.previousIssuer, firstIssuer);
      assert.equal(await second.container.settings.get('issuer'), second.config.issuer);
      firstIssuer = second.config.issuer;
    } finally {
      await second.stop();
    }
  });

  it('AD-08 refuses a changed ISSUER in production with one line naming ISSUER, and starts once CONFIRM_ISSUER_CHANGE names the old one', async () => {
    await assert.rejects(start({ NODE_ENV: 'production' }), (error: Error) => {
      assert.match(error.message, /^ISSUER: the database was set up for /);
      assert.ok(error.message.includes(`CONFIRM_ISSUER_CHANGE=${firstIssuer}`), error.message);
      assert.doesNotMatch(error.message, /\n/);
      return true;
    });
    await assert.rejects(start({ NODE_ENV: 'production', CONFIRM_ISSUER_CHANGE: 'https://someone.else.example' }), /^Error: ISSUER:/);
    const confirmed = await start({ NODE_ENV: 'production', CONFIRM_ISSUER_CHANGE: firstIssuer });
    try {
      await bootstrapAdminWorks(confirmed);
      firstIssuer = confirmed.config.issuer;
    } finally {
      await confirmed.stop();
    }
  });

  it('AD-08 recognises the issuer of a database from before the issuer was recorded by its bootstrap admin\'s audience', async () => {
    await sql('DELETE FROM "ServiceSetting"');
    const t = await start();
    try {
      await bootstrapAdminWorks(t);
      assert.equal(await t.container.settings.get('issuer'), t.config.issuer);
      firstIssuer = t.config.issuer;
    } finally {
      await t.stop();
    }
  });

  describe('npm run admin -- reset-secret (on the database, the service running)', () => {
    let t: TestService;
    let resetSecret: string;

    before(async () => {
      t = await start();
    });
    after(() => t.stop());

    /**
     * The command changes the database from another process: on PostgreSQL the service hears it at
     * once (NOTIFY), on SQLite within its one-second poll of the change counter; 5 s is ample.
     */
    async function soon<T>(attempt: () => Promise<T>): Promise<T> {
      const deadline = Date.now() + 5_000;
      for (;;) {
        try {
          return await attempt();
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }

    async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
      const env = {
        ...process.env, NODE_ENV: 'test', DATABASE_URL: database.url, KEYS_DIR: keysDir, KEY_ENCRYPTION_KEY: kek,
        ISSUER: t.config.issuer, LOG_LEVEL: 'warn', BOOTSTRAP_ADMIN_CLIENT_SECRET: '',
      };
      try {
        const { stdout, stderr } = await execFileAsync(process.execPath, ['--import', 'tsx', 'src/cli/admin.ts', ...args], { cwd: REPO_ROOT, env, timeout: 60_000 });
        return { code: 0, stdout, stderr };
      } catch (error) {
        const e = error as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout, stderr: e.stderr };
      }
    }
    const basicToken = (id: string, secret: string) => t.agent.post('/token').auth(id, secret).type('form').send({ grant_type: 'client_credentials' });

    it('AD-08 gives a locked-out operator the bootstrap admin back: new secret printed once, old one dead, enabled, scopes and audience restored, audited', async () => {
      const adminId = t.config.bootstrapAdmin.clientId;
      const own = `Bearer ${await t.tokenFor(adminId, BOOTSTRAP_SECRET)}`;
      // Every way to lose the admin API at once: disabled, stripped of admin:keys, out of the admin audience.
      const lockout = await t.agent.patch(`/admin/clients/${adminId}`).set('authorization', own)
        .send({ disabled: true, scope: 'admin:clients admin:audit', audience: ['https://orders.internal'] });
      assert.equal(lockout.status, 200, lockout.text);
      assert.equal((await basicToken(adminId, BOOTSTRAP_SECRET)).status, 401);

      const { code, stdout, stderr } = await cli('reset-secret');
      assert.equal(code, 0, stderr);
      const secret = stdout.trim();
      resetSecret = secret;
      assert.match(secret, /^[A-Za-z0-9_-]{43}$/, 'stdout holds exactly the new secret');
      assert.match(stderr, /shown only this once/);
      assert.equal((await basicToken(adminId, BOOTSTRAP_SECRET)).status, 401, 'the old secret stays dead');
      // It keeps the audience it was given besides the restored admin audience, so it names the one it wants.
      const token = await soon(() => t.tokenFor(adminId, secret, { audience: `${t.config.issuer}/admin` }));
      for (const path of ['/admin/clients', '/admin/keys', '/admin/audit']) {
        assert.equal((await t.agent.get(path).set('authorization', `Bearer ${token}`)).status, 200, path);
      }
      const events = (await t.auditEvents({ clientId: adminId })).filter((e) => e.requestId?.startsWith('cli-'));
      assert.deepEqual(events.map((e) => e.type).sort(), ['client.secret_rotated', 'client.updated']);
      for (const e of events) assert.equal(e.details?.actor, `cli:${userInfo().username}`);
      assert.deepEqual(events.find((e) => e.type === 'client.updated')!.details?.changed, ['audience', 'disabled', 'scope']);
      const restored = await t.container.uow.stores.clients.findById(adminId);
      assert.deepEqual([restored?.scopes.sort(), restored?.audience, restored?.disabled],
        [['admin:audit', 'admin:clients', 'admin:keys'], ['https://orders.internal', `${t.config.issuer}/admin`], false]);
      assert.doesNotMatch(JSON.stringify(events), new RegExp(secret));
    });

    it('AD-08 re-creates a deleted bootstrap admin, and refuses an unknown client or a wrong command', async () => {
      const adminId = t.config.bootstrapAdmin.clientId;
      const recovered = `Bearer ${await t.tokenFor(adminId, resetSecret, { audience: `${t.config.issuer}/admin` })}`;
      const helper = await t.agent.post('/admin/clients').set('authorization', recovered)
        .send({ client_name: 'root', client_id: 'c-root', scope: 'admin:clients admin:keys admin:audit', audience: [`${t.config.issuer}/admin`] });
      assert.equal(helper.status, 201, helper.text);
      const helperToken = `Bearer ${await t.tokenFor('c-root', helper.body.client_secret)}`;
      assert.equal((await t.agent.delete(`/admin/clients/${adminId}`).set('authorization', helperToken)).status, 204);

      const { code, stdout, stderr } = await cli('reset-secret', adminId);
      assert.equal(code, 0, stderr);
      assert.match(stderr, /re-created/);
      const token = await soon(() => t.tokenFor(adminId, stdout.trim()));
      assert.equal((await t.agent.get('/admin/keys').set('authorization', `Bearer ${token}`)).status, 200);

      const unknown = await cli('reset-secret', 'c-nobody');
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /^admin: no client "c-nobody"/);
      assert.equal(unknown.stdout, '');
      assert.equal((await cli('reset')).code, 2);
    });
  });
});
