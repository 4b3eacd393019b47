import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { hashKeyId } from '../../src/clients/client-secret.ts';
import { keyEncryptionKeyId } from '../../src/keys/key-ring.ts';
import { reportKeyEncryptionKeyUse, rewrapSigningKeys, type KekRewrapResult } from '../../src/keys/kek-rewrap.ts';
import { childEnv, PROJECT_ROOT, spawnService } from '../helpers/service-process.ts';
import { startTestService, type RegisteredClient, type TestService } from '../helpers/start-app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

const run = promisify(execFile);

/**
 * Key-encryption key rotation as an operator does it (docs/operations.md): K1 → K2 with K1 in
 * KEY_ENCRYPTION_KEYS_PREVIOUS, `keys rewrap`, secrets moving at their next use or rotation, then
 * K1 dropped. Each step restarts the service on the same database, as a rolling deploy would.
 */
describe('key-encryption key rotation', () => {
  const k1 = randomBytes(32).toString('base64url');
  const k2 = randomBytes(32).toString('base64url');
  const id1 = keyEncryptionKeyId(Buffer.from(k1, 'base64url'));
  const id2 = keyEncryptionKeyId(Buffer.from(k2, 'base64url'));
  let database: TestDatabase;
  let keysDir: string;
  let t: TestService;
  let used: RegisteredClient;
  let idle: RegisteredClient;
  let graced: RegisteredClient;
  let legacy: RegisteredClient;
  const kidsUnderK1: string[] = [];

  const start = (env: Record<string, string>) => startTestService(env, { database, keysDir });
  const hashes = async (clientId: string) => (await t.container.uow.stores.clients.listSecretHashes()).filter((s) => s.clientId === clientId).map((s) => s.hash);
  const envFor = (vars: Record<string, string>) => childEnv({ DATABASE_URL: database.url, KEYS_DIR: keysDir, ISSUER: t.config.issuer, LOG_LEVEL: 'warn', ...vars });
  async function keysCli(args: string[], vars: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/keys.ts', ...args], { cwd: PROJECT_ROOT, env: envFor(vars) });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }
  /** The re-hash runs beside the request; its write lands shortly after the token is answered. */
  async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  before(async () => {
    database = await createTestDatabase();
    keysDir = mkdtempSync(path.join(tmpdir(), 'idb-kek-'));
    t = await start({ KEY_ENCRYPTION_KEY: k1 });
    used = await t.registerClient({ client_name: 'used after the rotation' });
    idle = await t.registerClient({ client_name: 'idle during the rotation' });
    graced = await t.registerClient({ client_name: 'rotated with a grace period' });
    await t.tokenFor(used.clientId, used.secret);
    assert.equal(hashKeyId((await hashes(used.clientId))[0]!), id1);
    // A hash as versions before the key ring wrote it (v1: the same MAC, no key id).
    legacy = await t.registerClient({ client_name: 'hashed by an older version' });
    const [original] = (await t.container.uow.stores.clients.listSecretHashes()).filter((s) => s.clientId === legacy.clientId);
    const v1 = `hmac-sha256.v1.${original!.hash.split('.').at(-1)}`;
    assert.ok(await t.container.uow.stores.clients.replaceSecretHash(legacy.clientId, original!.id, original!.hash, v1));
    // Once the client directory holds the v1 hash, it authenticates.
    await eventually(async () => (await t.container.directory.find(legacy.clientId))?.secrets[0]?.hash === v1, 'the directory holds the v1 hash');
    await t.tokenFor(legacy.clientId, legacy.secret);
    // With K1 alone, `keys rewrap` labels it with K1's id (the start-up and the token left it alone).
    const labelled = await rewrapSigningKeys({ uow: t.container.uow, sealer: t.container.sealer, audit: t.container.audit, clock: t.container.clock }, { requestId: 'test', sourceAddress: undefined });
    assert.equal(labelled.labelledSecretHashes, 1);
    assert.deepEqual(labelled.rewrapped, []);
    assert.deepEqual(await hashes(legacy.clientId), [original!.hash]);
    for (const k of await t.container.uow.stores.keys.listAll()) if (k.encryptedPrivateJwk) kidsUnderK1.push(k.kid);
    assert.equal(kidsUnderK1.length, 2, 'the active and the next key');
    await t.stop();
  });

  after(async () => {
    await t?.stop().catch(() => undefined);
    await database?.drop();
    rmSync(keysDir, { recursive: true, force: true });
  });

  it('KEK-01 with K2 current and K1 previous: old secrets authenticate and move to K2, new ones are hashed under K2', async () => {
    t = await start({ KEY_ENCRYPTION_KEY: k2, KEY_ENCRYPTION_KEYS_PREVIOUS: k1 });
    // The private keys sealed under K1 opened at start-up: the same kids still sign.
    assert.ok(kidsUnderK1.includes(t.container.keys.activeSigningKey()!.kid));
    await t.tokenFor(used.clientId, used.secret);
    await t.tokenFor(legacy.clientId, legacy.secret);
    await eventually(async () => hashKeyId((await hashes(used.clientId))[0]!) === id2, 'the used secret is re-hashed under K2');
    await eventually(async () => hashKeyId((await hashes(legacy.clientId))[0]!) === id2, 'the labelled secret is re-hashed under K2');
    // It still authenticates after the re-hash (the directory dropped the stale hash).
    await t.tokenFor(used.clientId, used.secret);
    const fresh = await t.registerClient({ client_name: 'registered after the rotation' });
    assert.equal(hashKeyId((await hashes(fresh.clientId))[0]!), id2);
    await t.tokenFor(fresh.clientId, fresh.secret);
    // A wrong secret is still refused, before and after the key change alike.
    const wrong = await t.agent.post('/token').auth(idle.clientId, `${idle.secret}x`).type('form').send({ grant_type: 'client_credentials' });
    assert.equal(wrong.status, 401);
    assert.equal(hashKeyId((await hashes(idle.clientId))[0]!), id1, 'a failed attempt re-hashes nothing');
  });

  it('KEK-02 `keys rewrap` re-seals every private key under K2 beside the running service and reports what still needs K1', async () => {
    const result = await keysCli(['rewrap', '--json'], { KEY_ENCRYPTION_KEY: k2, KEY_ENCRYPTION_KEYS_PREVIOUS: k1 });
    assert.equal(result.code, 0, result.stderr);
    const { rewrapped, report } = JSON.parse(result.stdout) as KekRewrapResult;
    assert.deepEqual(rewrapped.map((r) => r.kid).sort(), [...kidsUnderK1].sort());
    assert.ok(rewrapped.every((r) => r.from === id1));
    assert.equal(report.current, id2);
    const k1Use = report.keys.find((u) => u.kekId === id1)!;
    assert.equal(k1Use.role, 'previous');
    assert.deepEqual(k1Use.signingKeys, []);
    // The idle and the graced client have not authenticated since: their hashes still need K1.
    assert.equal(k1Use.secretHashes, 2);
    assert.deepEqual(report.keys.find((u) => u.kekId === id2)!.signingKeys.sort(), [...kidsUnderK1].sort());
    const events = await t.auditEvents({ type: 'key.rewrapped' });
    assert.deepEqual(events.map((e) => e.kid).sort(), [...kidsUnderK1].sort());
    assert.ok(events.every((e) => e.details?.from_kek === id1 && e.details?.to_kek === id2 && e.outcome === 'success'));
    // The running service signs on with the key it holds; the stored blob is all that changed.
    await t.tokenFor(used.clientId, used.secret);
    // A second run (the function the command runs, in process) finds nothing to do.
    const again = await rewrapSigningKeys({ uow: t.container.uow, sealer: t.container.sealer, audit: t.container.audit, clock: t.container.clock }, { requestId: 'test', sourceAddress: undefined });
    assert.deepEqual(again.rewrapped, []);
  });

  it('KEK-03 rotating the idle secrets moves the last dependencies (an expired grace secret holds none); the report then says nothing depends on K1', async () => {
    const deps = { uow: t.container.uow, sealer: t.container.sealer, clock: t.container.clock };
    const k1Use = async () => (await reportKeyEncryptionKeyUse(deps)).keys.find((u) => u.kekId === id1)!;
    const rotate = async (clientId: string, body: Record<string, unknown>) => {
      const res = await t.agent.post(`/admin/clients/${clientId}/secret`).set('authorization', `Bearer ${await t.adminToken()}`).send(body);
      assert.equal(res.status, 200, res.text);
      return res.body.client_secret as string;
    };
    idle = { ...idle, secret: await rotate(idle.clientId, {}) };
    const gracedSecret = await rotate(graced.clientId, { grace_seconds: 60 });
    // The admin's own bootstrap secret moved at its first use (the admin token just fetched); the
    // graced client's old secret still authenticates, so it still needs K1.
    await eventually(async () => (await k1Use()).secretHashes === 1, 'only the in-grace secret needs K1');
    assert.equal((await k1Use()).signingKeys.length, 0);
    t.clock.advance(61);
    assert.equal((await k1Use()).secretHashes, 0, 'an expired grace secret holds no key back');
    assert.equal((await reportKeyEncryptionKeyUse(deps)).expiredSecretHashes, 1);
    // The command runs on the real clock: the next rotation prunes the expired hash for it too.
    graced = { ...graced, secret: await rotate(graced.clientId, {}) };
    assert.notEqual(graced.secret, gracedSecret);
    assert.equal((await reportKeyEncryptionKeyUse(deps)).expiredSecretHashes, 0);
    const text = await keysCli(['kek-status'], { KEY_ENCRYPTION_KEY: k2, KEY_ENCRYPTION_KEYS_PREVIOUS: k1 });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`kek ${id1}  KEY_ENCRYPTION_KEYS_PREVIOUS +signing keys: 0  client secret hashes: 0`));
    assert.match(text.stdout, new RegExp(`kek ${id1}: nothing depends on it any more; remove it from KEY_ENCRYPTION_KEYS_PREVIOUS`));
    await t.stop();
  });

  it('KEK-04 with K1 dropped the service starts and every secret in use authenticates', async () => {
    t = await start({ KEY_ENCRYPTION_KEY: k2 });
    assert.ok(kidsUnderK1.includes(t.container.keys.activeSigningKey()!.kid), 'the re-wrapped key still signs');
    await t.tokenFor(used.clientId, used.secret);
    await t.tokenFor(idle.clientId, idle.secret);
    await t.tokenFor(graced.clientId, graced.secret);
    await t.tokenFor(legacy.clientId, legacy.secret);
    await t.tokenFor(t.config.bootstrapAdmin.clientId, (await import('../helpers/start-app.ts')).BOOTSTRAP_SECRET);
    const report = await reportKeyEncryptionKeyUse({ uow: t.container.uow, sealer: t.container.sealer, clock: t.container.clock });
    assert.deepEqual(report.keys.map((u) => u.kekId), [id2], 'no data names any other key');
    await t.stop();
  });

  it('KEK-05 a key that is not the one in use refuses to start, in one line naming the variable', async () => {
    // K1, dropped after the re-wrap, stands for any key that is not the one in use.
    for (const key of [k1]) {
      const child = spawnService({ DATABASE_URL: database.url, KEYS_DIR: keysDir, ISSUER: t.config.issuer, KEY_ENCRYPTION_KEY: key });
      const { code } = await child.exited;
      assert.equal(code, 1);
      const lines = child.stderr().trim().split('\n');
      assert.equal(lines.length, 1, child.stderr());
      assert.match(lines[0]!, new RegExp(`^identity-backend: failed to start: signing key \\S+ cannot be decrypted: it was sealed by key-encryption key ${id2}, which is neither KEY_ENCRYPTION_KEY`));
    }
  });
});
