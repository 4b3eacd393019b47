import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../helpers/free-port.ts';
import { startTestService, type TestService } from '../../helpers/start-app.ts';

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
