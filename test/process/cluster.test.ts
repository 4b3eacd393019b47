import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLIENT_ASSERTION_TYPE, createSigningKey, signAssertion } from '../helpers/assertion.ts';
import { freePort } from '../helpers/free-port.ts';
import { killAll, LISTENING, spawnService, type ServiceProcess } from '../helpers/service-process.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

const ADMIN_SECRET = `cluster-admin-${'s'.repeat(32)}`;
/** Two workers compiling TypeScript at once on a loaded 2-core machine start slowly. */
const CLUSTER_START_MS = 90_000;

type Answer = { status: number; body: Record<string, unknown> };

/**
 * One request on a connection of its own: the cluster primary hands each new connection to the
 * next worker in turn, so consecutive requests land on alternating workers.
 */
function send(port: number, method: string, pathname: string, opts: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: pathname, agent: false, headers: opts.headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => {
        resolve({ status: res.statusCode!, body: text.startsWith('{') ? JSON.parse(text) as Record<string, unknown> : { text } });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const form = { 'content-type': 'application/x-www-form-urlencoded' };
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

describe('cluster mode: WEB_CONCURRENCY=2 workers behind one port', () => {
  let database: TestDatabase;
  let keysDir: string;
  let service: ServiceProcess;
  let port: number;
  let admin: string;

  const token = (id: string, secret: string) => send(port, 'POST', '/token', { headers: { ...form, authorization: basic(id, secret) }, body: 'grant_type=client_credentials' });
  const adminCall = (method: string, pathname: string, body?: unknown) =>
    send(port, method, pathname, { headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

  before(async () => {
    database = await createTestDatabase();
    keysDir = mkdtempSync(path.join(tmpdir(), 'idb-cluster-'));
    port = await freePort();
    service = spawnService({
      WEB_CONCURRENCY: '2', PORT: String(port), HOST: '127.0.0.1', ISSUER: `http://127.0.0.1:${port}`, DATABASE_URL: database.url,
      KEYS_DIR: keysDir, BOOTSTRAP_ADMIN_CLIENT_SECRET: ADMIN_SECRET, RATE_LIMIT_AUTH_FAILURES: '3', LOG_LEVEL: 'info',
    });
    await service.waitForStdout(LISTENING, CLUSTER_START_MS);
    const res = await token('admin', ADMIN_SECRET);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    admin = res.body.access_token as string;
  });
  after(async () => {
    await killAll();
    await database?.drop();
    rmSync(keysDir, { recursive: true, force: true });
  });

  it('logs that it listens once, with both workers up', () => {
    assert.equal(service.stdout().match(/"msg":"identity-backend listening"/g)?.length, 1);
    assert.match(service.stdout(), /"workers":2/);
  });

  it('shares the failure lockout between workers: the fourth wrong secret is refused 429 whichever worker counts it', async () => {
    const c = await adminCall('POST', '/admin/clients', { client_id: 'c-lock', client_name: 'x', scope: 'orders:read', audience: ['https://orders.internal'] });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await token('c-lock', `wrong-${i}`)).status);
    // With a counter per worker, alternating connections would give each worker at most three failures: all 401.
    assert.deepEqual(statuses, [401, 401, 401, 429, 429, 429]);
    assert.equal((await token('c-lock', c.body.client_secret as string)).status, 200);
  });

  it('takes a disabled client away from every worker at once, although each had it in memory', async () => {
    const c = await adminCall('POST', '/admin/clients', { client_id: 'c-off', client_name: 'x', scope: 'orders:read', audience: ['https://orders.internal'] });
    const secret = c.body.client_secret as string;
    for (let i = 0; i < 6; i++) assert.equal((await token('c-off', secret)).status, 200);
    assert.equal((await adminCall('PATCH', '/admin/clients/c-off', { disabled: true })).status, 200);
    const after: number[] = [];
    for (let i = 0; i < 6; i++) after.push((await token('c-off', secret)).status);
    // Refused by both workers; past three refusals the lockout (shared, limit 3) answers 429 instead.
    assert.deepEqual(after, [401, 401, 401, 429, 429, 429]);
  });

  it('refuses an assertion replayed to the other worker', async () => {
    const key = await createSigningKey('ES256');
    const reg = await adminCall('POST', '/admin/clients', {
      client_id: 'c-pkj', client_name: 'x', scope: 'orders:read', audience: ['https://orders.internal'],
      token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.publicJwk] },
    });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    const jwt = await signAssertion({ clientId: 'c-pkj', audience: `http://127.0.0.1:${port}`, key });
    const body = new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: jwt }).toString();
    const first = await send(port, 'POST', '/token', { headers: form, body });
    const second = await send(port, 'POST', '/token', { headers: form, body });
    assert.deepEqual([first.status, second.status], [200, 401]);
  });

  it('adds up every worker in /metrics', async () => {
    const before = await issuedTotal();
    const c = await adminCall('POST', '/admin/clients', { client_id: 'c-count', client_name: 'x', scope: 'orders:read', audience: ['https://orders.internal'] });
    for (let i = 0; i < 10; i++) assert.equal((await token('c-count', c.body.client_secret as string)).status, 200);
    // Asked of either worker, the figure is the process's: 10 more, not the 5 one worker issued.
    assert.equal(await issuedTotal(), before + 10);
    assert.equal(await issuedTotal(), before + 10);
  });

  async function issuedTotal(): Promise<number> {
    const res = await send(port, 'GET', '/metrics');
    const text = String(res.body.text);
    return Number(/^identity_tokens_issued_total (\d+)/m.exec(text)?.[1] ?? 0);
  }

  it('stops every worker on SIGTERM and exits 0', async () => {
    service.child.kill('SIGTERM');
    const { code } = await service.exited;
    assert.equal(code, 0, service.stderr());
  });
});
