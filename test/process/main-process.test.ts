import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { freePort } from '../helpers/free-port.ts';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { DEVELOPMENT_KEK_FILE } from '../../src/keys/key-encryption.ts';
import { parseDatabaseUrl } from '../../src/persistence/database-target.ts';
import { closeDatabase, openDatabase } from '../../src/persistence/prisma-client.ts';
import { expectMatchesOpenApi } from '../helpers/openapi.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';
import { killAll, LISTENING, SHUTDOWN_TIMEOUT_MS, SHUTTING_DOWN, spawnService, type ServiceProcess } from '../helpers/service-process.ts';

function basic(clientId: string, secret: string): string {
  const encode = (v: string) => encodeURIComponent(v).replaceAll('%20', '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64')}`;
}

function tokenRequest(base: string, clientId: string, secret: string): Promise<Response> {
  return fetch(`${base}/token`, {
    method: 'POST',
    headers: { authorization: basic(clientId, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
}

/** The shape expectMatchesOpenApi checks, from a fetch Response. */
async function checked(res: Response) {
  const text = await res.text();
  return { status: res.status, headers: Object.fromEntries(res.headers), body: text ? JSON.parse(text) : undefined };
}

/** Lines of the output that are not JSON log records. */
function nonJsonLines(output: string): string[] {
  return output.split('\n').filter((line) => {
    if (!line.trim()) return false;
    try {
      JSON.parse(line);
      return false;
    } catch {
      return true;
    }
  });
}

const BOOTSTRAP_ANNOUNCEMENT = /Bootstrap admin client "admin" created\. Its secret is shown only this once \(and kept in (\S+), mode 0600: delete it once stored\):\n {2}(\S+)\n/;

/** The one bootstrap secret printed on stderr (the line after the announcement), and the file it names. */
function printedSecret(output: string): { secret: string; file: string } {
  const match = BOOTSTRAP_ANNOUNCEMENT.exec(output);
  assert.ok(match, `no bootstrap secret on stderr: ${output}`);
  return { file: match[1]!, secret: match[2]! };
}

describe('the service process (node src/main.ts)', () => {
  let database: TestDatabase;
  let keysDir: string;
  let port: number;
  let base: string;
  let vars: Record<string, string>;
  let first: ServiceProcess;
  let secret: string;

  before(async () => {
    database = await createTestDatabase();
    keysDir = mkdtempSync(path.join(tmpdir(), 'idb-process-keys-'));
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // No BOOTSTRAP_ADMIN_CLIENT_SECRET: the service must generate one.
    vars = { PORT: String(port), DATABASE_URL: database.url, KEYS_DIR: keysDir, LOG_LEVEL: 'info' };
    first = spawnService(vars);
    await first.waitForStdout(LISTENING);
    await first.waitForStderr(BOOTSTRAP_ANNOUNCEMENT);
    secret = printedSecret(first.stderr()).secret;
  });

  after(async () => {
    await killAll();
    await database?.drop();
    if (keysDir) rmSync(keysDir, { recursive: true, force: true });
  });

  it('AD-08 prints the generated bootstrap admin secret exactly once, on stderr, never on stdout where the JSON log lines go', () => {
    const out = first.stdout();
    assert.ok(!out.includes(secret), 'the secret is not on stdout');
    assert.deepEqual(nonJsonLines(out), [], 'stdout holds JSON log records only');
    for (const line of out.split('\n').filter((l) => l.trim())) assert.equal(typeof JSON.parse(line).level, 'string');
    assert.equal(first.stderr().split(secret).length - 1, 1, 'the secret appears exactly once on stderr');
    assert.deepEqual(nonJsonLines(first.stderr()).slice(1), [`  ${secret}`]);
    // 32 random bytes as base64url (contract §5: ≥ 256 bits).
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
  });

  it('AD-08 keeps the generated secret in KEYS_DIR/bootstrap-admin-secret with mode 0600', () => {
    const file = path.join(keysDir, 'bootstrap-admin-secret');
    assert.equal(printedSecret(first.stderr()).file, file);
    assert.equal(readFileSync(file, 'utf8'), `${secret}\n`);
    assert.equal((statSync(file).mode & 0o777).toString(8), '600');
  });

  it('AD-08 issues an admin token for the printed secret with client_secret_basic, and refuses admin/admin', async () => {
    const ok = await tokenRequest(base, 'admin', secret);
    assert.equal(ok.status, 200);
    const body = await ok.json() as { access_token: string; scope: string; token_type: string };
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.scope, 'admin:clients admin:keys admin:audit');

    const refused = await checked(await tokenRequest(base, 'admin', 'admin'));
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error, 'invalid_client');
    assert.match(String(refused.headers['www-authenticate']), /^Basic realm=/);
    expectMatchesOpenApi(refused, 'POST', '/token');

    const audit = await fetch(`${base}/admin/audit?client_id=admin&type=token.denied`, { headers: { authorization: `Bearer ${body.access_token}` } });
    assert.equal(audit.status, 200);
    const { items } = await audit.json() as { items: Array<{ reason: string; request_id: string; outcome: string }> };
    assert.equal(items.length, 1);
    assert.equal(items[0]!.reason, 'invalid_secret');
    assert.equal(items[0]!.outcome, 'failure');
    assert.equal(items[0]!.request_id, refused.headers['x-request-id']);
  });

  it('AD-08 stores the bootstrap secret only as a keyed hash', async () => {
    const target = parseDatabaseUrl(database.url)!;
    const opened = await openDatabase(target);
    const { db } = opened;
    try {
      const rows = await db.clientSecret.findMany({ where: { clientId: 'admin' } });
      assert.equal(rows.length, 1);
      assert.match(rows[0]!.hash, /^hmac-sha256\.v2\.[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]{43}$/);
      // The audit chain's positions are BigInt, which JSON.stringify does not write by itself.
      const everything = JSON.stringify(await Promise.all([db.client.findMany(), db.clientSecret.findMany(), db.auditEvent.findMany()]), (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
      assert.ok(!everything.includes(secret), 'no table holds the plaintext secret');
    } finally {
      await closeDatabase(opened);
    }
    if (target.provider === 'sqlite') {
      // The raw files too, write-ahead log included.
      const dir = path.dirname(target.file);
      for (const file of readdirSync(dir)) assert.ok(!readFileSync(path.join(dir, file)).includes(secret), file);
    }
  });

  it('writes the development key-encryption key into KEYS_DIR with mode 0600', () => {
    const mode = statSync(path.join(keysDir, DEVELOPMENT_KEK_FILE)).mode & 0o777;
    assert.equal(mode.toString(8), '600');
  });

  it('answers /healthz and /readyz with 200 and their documented bodies', async () => {
    const health = await checked(await fetch(`${base}/healthz`));
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: 'ok' });
    assert.equal(health.headers['cache-control'], 'no-store');
    expectMatchesOpenApi(health, 'GET', '/healthz');

    const ready = await checked(await fetch(`${base}/readyz`));
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { status: 'ready', checks: { database: 'ok', audit_store: 'ok', signing_key: 'ok' } });
    assert.equal(ready.headers['cache-control'], 'no-store');
    expectMatchesOpenApi(ready, 'GET', '/readyz');
  });

  describe('restarted on the same database and KEYS_DIR', () => {
    let second: ServiceProcess;
    let jwksBefore: JSONWebKeySet;
    let tokenBefore: string;

    before(async () => {
      jwksBefore = await (await fetch(`${base}/.well-known/jwks.json`)).json() as JSONWebKeySet;
      tokenBefore = (await (await tokenRequest(base, 'admin', secret)).json() as { access_token: string }).access_token;
      first.child.kill('SIGTERM');
      assert.deepEqual(await first.exited, { code: 0, signal: null });
      second = spawnService(vars);
      await second.waitForStdout(LISTENING);
    });

    it('AD-08 does not print the bootstrap secret again, and the printed secret still works', async () => {
      assert.ok(!second.stdout().includes(secret) && !second.stderr().includes(secret));
      assert.doesNotMatch(second.stdout() + second.stderr(), /Bootstrap admin client/);
      assert.deepEqual(nonJsonLines(second.stdout()), []);
      assert.equal((await tokenRequest(base, 'admin', secret)).status, 200);
      assert.equal((await tokenRequest(base, 'admin', 'admin')).status, 401);
    });

    it('keeps its signing keys: the same kids are published and a token issued before the restart still verifies', async () => {
      const jwksAfter = await (await fetch(`${base}/.well-known/jwks.json`)).json() as JSONWebKeySet;
      const kids = (set: JSONWebKeySet) => set.keys.map((k) => k.kid).sort();
      assert.ok(jwksBefore.keys.length >= 1);
      assert.deepEqual(kids(jwksAfter), kids(jwksBefore));
      assert.ok(kids(jwksAfter).includes(decodeProtectedHeader(tokenBefore).kid));

      const { payload } = await jwtVerify(tokenBefore, createLocalJWKSet(jwksAfter), {
        issuer: `http://localhost:${port}`,
        audience: `http://localhost:${port}/admin`,
        typ: 'at+jwt',
      });
      assert.equal(payload.client_id, 'admin');

      // A token issued now is signed by the same (still active) key.
      const tokenAfter = (await (await tokenRequest(base, 'admin', secret)).json() as { access_token: string }).access_token;
      assert.equal(decodeProtectedHeader(tokenAfter).kid, decodeProtectedHeader(tokenBefore).kid);
    });

    it('on SIGTERM finishes an in-flight request with 200, refuses new connections and exits with code 0 within the shutdown timeout', async () => {
      const body = 'grant_type=client_credentials&scope=admin%3Aclients';
      const half = body.length >> 1;
      // A keep-alive agent, as a real client would use: the server must still not wait for it.
      const agent = new http.Agent({ keepAlive: true });
      const req = http.request(`${base}/token`, {
        method: 'POST',
        agent,
        headers: {
          authorization: basic('admin', secret),
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': String(body.length),
        },
      });
      const response = new Promise<{ status: number; connection: string | undefined; text: string }>((resolve, reject) => {
        req.once('error', reject);
        req.once('response', (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (chunk: string) => { text += chunk; });
          res.once('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, text }));
        });
      });
      try {
        // Headers and half the body are on the wire: the request is in flight.
        await new Promise<void>((resolve) => req.write(body.slice(0, half), () => resolve()));
        await waitForInFlight(second, port);

        const signalledAt = Date.now();
        second.child.kill('SIGTERM');
        await second.waitForStdout(SHUTTING_DOWN, 5000);

        assert.equal(await connectionRefusedWithin(port, 3000), true, 'a new connection after SIGTERM is refused');
        assert.equal(second.child.exitCode, null, 'the process waits for the in-flight request');

        req.end(body.slice(half));
        const res = await response;
        assert.equal(res.status, 200, res.text);
        const token = JSON.parse(res.text) as { access_token: string; scope: string };
        assert.equal(token.scope, 'admin:clients');
        // The keep-alive connection is closed with the response rather than left open until the timeout.
        assert.equal(res.connection, 'close');

        const exit = await second.exited;
        assert.deepEqual(exit, { code: 0, signal: null });
        const took = Date.now() - signalledAt;
        assert.ok(took < SHUTDOWN_TIMEOUT_MS, `exited ${took} ms after SIGTERM`);
      } finally {
        req.destroy();
        agent.destroy();
      }
    });
  });
});

/** True once a fresh connection to the port is refused; the listener closes just after the shutdown log line. */
async function connectionRefusedWithin(port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const outcome = await new Promise<string>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); resolve('connected'); });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    });
    if (outcome === 'ECONNREFUSED') return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

/**
 * Waits until the service has taken up a request already on the wire. It logs a request only when
 * it finishes, so probe instead: the listener accepts connections in arrival order, so once a later
 * connection is answered, the earlier one has been accepted and its headers read.
 */
/**
 * The half-sent request was on the wire before these probes: once the service has answered a few
 * of them, on turns of its event loop after the one that could read it, it has read its headers.
 */
async function waitForInFlight(service: ServiceProcess, port: number): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(res.status, 200);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal(service.child.exitCode, null);
}

describe('the service process with a bad configuration value', () => {
  const cases: Array<{ variable: string; env: Record<string, string> }> = [
    { variable: 'PORT', env: { PORT: 'abc' } },
    { variable: 'SIGNING_ALG', env: { SIGNING_ALG: 'HS256' } },
    { variable: 'ACCESS_TOKEN_TTL', env: { ACCESS_TOKEN_TTL: '5000', MAX_ACCESS_TOKEN_TTL: '3600' } },
    { variable: 'KEY_PREPUBLISH', env: { KEY_PREPUBLISH: '40d' } },
    { variable: 'DATABASE_URL', env: { DATABASE_URL: 'mysql://x' } },
    { variable: 'BOOTSTRAP_ADMIN_CLIENT_SECRET', env: { BOOTSTRAP_ADMIN_CLIENT_SECRET: 'short' } },
    { variable: 'KEY_ENCRYPTION_KEY', env: { NODE_ENV: 'production' } },
  ];
  let keysDir: string;

  before(() => {
    keysDir = mkdtempSync(path.join(tmpdir(), 'idb-process-badconf-'));
  });
  after(async () => {
    await killAll();
    rmSync(keysDir, { recursive: true, force: true });
  });

  for (const { variable, env } of cases) {
    const shown = Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ');
    it(`${variable === 'BOOTSTRAP_ADMIN_CLIENT_SECRET' ? 'AD-08 ' : ''}stops start-up with exit code 1 and one stderr line naming ${variable} for ${shown}`, async () => {
      // A database that is never reached: configuration is checked before anything is opened.
      const service = spawnService({ DATABASE_URL: `file:${path.join(keysDir, 'never.db')}`, KEYS_DIR: keysDir, LOG_LEVEL: 'info', ...env });
      const exit = await service.exited;
      assert.deepEqual(exit, { code: 1, signal: null });
      const lines = service.stderr().split('\n').filter(Boolean);
      assert.equal(lines.length, 1, `stderr: ${service.stderr()}`);
      assert.ok(lines[0]!.startsWith(`identity-backend: configuration error: ${variable}: `), lines[0]);
      assert.equal(service.stdout(), '');
      if (env.BOOTSTRAP_ADMIN_CLIENT_SECRET) assert.ok(!lines[0]!.includes(env.BOOTSTRAP_ADMIN_CLIENT_SECRET));
    });
  }
});
