import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../helpers/free-port.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../../src/config/load-config.ts';
import { startService } from '../../../src/server.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { BOOTSTRAP_SECRET, startTestService, type TestService } from '../../helpers/start-app.ts';
import { createTestDatabase } from '../../helpers/test-database.ts';

async function refuseUnknownClient(t: TestService) {
  const res = await t.agent.post('/token').auth('c-does-not-exist', 'x'.repeat(43)).type('form').send({ grant_type: 'client_credentials' });
  assert.equal(res.status, 401);
}

describe('/metrics on the public port (no METRICS_PORT)', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t.stop());

  it('labels denials by OAuth error only: nothing tells which client ids exist', async () => {
    await refuseUnknownClient(t);
    const c = await t.registerClient({ client_id: 'c-metrics' });
    await t.agent.patch('/admin/clients/c-metrics').set('authorization', `Bearer ${await t.adminToken()}`).send({ disabled: true });
    assert.equal((await t.agent.post('/token').auth('c-metrics', c.secret).type('form').send({ grant_type: 'client_credentials' })).status, 401);
    const res = await t.agent.get('/metrics');
    assert.equal(res.status, 200);
    assert.match(res.text, /^identity_tokens_denied_total\{error="invalid_client"\} 2$/m);
    assert.doesNotMatch(res.text, /unknown_client|client_disabled|invalid_secret|reason=/);
  });
});

describe('METRICS_PORT', () => {
  let t: TestService;
  let metricsUrl: string;
  before(async () => {
    t = await startTestService(async () => ({ METRICS_PORT: String(await freePort()) }));
    metricsUrl = `http://127.0.0.1:${t.service.metricsPort}/metrics`;
  });
  after(() => t.stop());

  it('serves /metrics with audit reasons on its own port, and not at all on the public one', async () => {
    await refuseUnknownClient(t);
    const res = await fetch(metricsUrl);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(await res.text(), /^identity_tokens_denied_total\{error="invalid_client",reason="unknown_client"\} 1$/m);
    assert.equal((await t.agent.get('/metrics')).status, 404);
    assert.equal((await fetch(metricsUrl.replace('/metrics', '/admin/clients'))).status, 404, 'the metrics port serves nothing else');
  });
});

describe('METRICS_PORT already taken', () => {
  it('stops start-up with the bind error and leaves the main port closed, not serving without its metrics', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const metricsPort = (taken.address() as net.AddressInfo).port;
    const database = await createTestDatabase();
    const keysDir = mkdtempSync(path.join(tmpdir(), 'idb-keys-'));
    try {
      const port = await freePort();
      const config = loadConfig({
        NODE_ENV: 'test', HOST: '127.0.0.1', PORT: String(port), METRICS_PORT: String(metricsPort), DATABASE_URL: database.url, KEYS_DIR: keysDir,
        BOOTSTRAP_ADMIN_CLIENT_SECRET: BOOTSTRAP_SECRET,
      });
      await assert.rejects(startService(config, createLogger('silent')), (error: NodeJS.ErrnoException) => error.code === 'EADDRINUSE');
      const refused = await new Promise<boolean>((resolve) => {
        const probe = net.connect(port, '127.0.0.1');
        probe.once('connect', () => { probe.destroy(); resolve(false); });
        probe.once('error', () => resolve(true));
      });
      assert.equal(refused, true, `the main port ${port} still accepts connections`);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
      await database.drop();
      rmSync(keysDir, { recursive: true, force: true });
    }
  });
});
