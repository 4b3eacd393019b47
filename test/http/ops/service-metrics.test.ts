import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../helpers/free-port.ts';
import { startTestService, type RegisteredClient, type TestService } from '../../helpers/start-app.ts';

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics an operator acts on (METRICS_PORT)', () => {
  let t: TestService;
  let metricsUrl: string;
  let clients: RegisteredClient[];
  const scrape = async () => (await fetch(metricsUrl)).text();

  before(async () => {
    t = await startTestService(async () => ({ METRICS_PORT: String(await freePort()), METRICS_TOP_CLIENTS: '2', RATE_LIMIT_TOKEN_PER_CLIENT: '3', RATE_LIMIT_AUTH_FAILURES: '0' }));
    metricsUrl = `http://127.0.0.1:${t.service.metricsPort}/metrics`;
    clients = [];
    for (const id of ['c-one', 'c-two', 'c-three']) clients.push(await t.registerClient({ client_id: id }));
  });
  after(() => t.stop());

  it('labels requests with route templates: never a raw id, other only for unknown paths', async () => {
    const admin = `Bearer ${await t.adminToken()}`;
    await t.agent.get('/admin/clients/c-one').set('authorization', admin).expect(200);
    await t.agent.get('/admin/clients/c-nope').set('authorization', admin).expect(404);
    await t.agent.get('/admin/audit').set('authorization', admin).expect(200);
    await t.agent.post('/token').auth('c-one', 'wrong').type('form').send({ grant_type: 'client_credentials' }).expect(401);
    await t.agent.get('/no/such/path').expect(404);
    const text = await scrape();
    assert.match(text, /identity_http_request_duration_seconds_count\{route="\/admin\/clients\/:client_id",status="200"\} 1/);
    assert.match(text, /identity_http_request_duration_seconds_count\{route="\/admin\/clients\/:client_id",status="404"\} 1/);
    assert.match(text, /identity_http_request_duration_seconds_count\{route="\/admin\/audit",status="200"\} 1/);
    assert.match(text, /identity_http_request_duration_seconds_count\{route="\/token",status="401"\} 1/);
    assert.match(text, /identity_http_request_duration_seconds_count\{route="other",status="404"\} 1/);
    assert.doesNotMatch(text, /route="[^"]*(c-one|c-nope|no\/such)/);
  });

  it('counts tokens by client, audience and auth method, bounded to the top N plus other', async () => {
    for (const c of clients) await t.tokenFor(c.clientId, c.secret);
    await t.tokenFor(clients[0]!.clientId, clients[0]!.secret);
    const text = await scrape();
    // The admin client issued first: it and c-one have series; c-two and c-three are other.
    assert.equal(value(text, 'identity_tokens_issued_by_client_total{client_id="c-one",audience="https://orders.internal",auth_method="client_secret_basic"}'), 2);
    assert.match(text, /identity_tokens_issued_by_client_total\{client_id="other",audience="[^"]+",auth_method="client_secret_basic"\} 2/);
    assert.doesNotMatch(text, /client_id="c-(two|three)"/);
  });

  it('counts throttle rejections, reports key age and rotation, audit batches, tokens per lifetime', async () => {
    const c = clients[1]!;
    let limited = 0;
    for (let i = 0; i < 5; i++) {
      const res = await t.agent.post('/token').auth(c.clientId, c.secret).type('form').send({ grant_type: 'client_credentials' });
      if (res.status === 429) limited++;
    }
    assert.ok(limited >= 1);
    t.clock.advance(901);
    await t.tokenFor(clients[2]!.clientId, clients[2]!.secret);
    const text = await scrape();
    assert.equal(value(text, 'identity_token_throttled_total{kind="rate_limit"}'), limited);
    const age = value(text, 'identity_signing_key_age_seconds')!;
    const due = value(text, 'identity_signing_key_rotation_due_seconds')!;
    assert.ok(age >= 901, `age ${age}`);
    assert.ok(Math.abs(age + due - t.config.keyRotationInterval) < 5, `age ${age} + due ${due}`);
    assert.ok(value(text, 'identity_audit_batch_size_count')! >= 1);
    assert.ok(value(text, 'identity_audit_flush_duration_seconds_count')! >= 1);
    assert.equal(value(text, 'identity_audit_write_failures_total'), 0);
    // c-three's first lifetime (900 s) ended with its next token: observed (under other, past the top 2).
    assert.match(text, /identity_tokens_per_client_lifetime_count\{client_id="other"\} [1-9]/);
  });
});

describe('the public /metrics names no client', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t.stop());

  it('counts per-client tokens under other only', async () => {
    const c = await t.registerClient({ client_id: 'c-secretive' });
    await t.tokenFor(c.clientId, c.secret);
    const text = (await t.agent.get('/metrics')).text;
    assert.match(text, /identity_tokens_issued_by_client_total\{client_id="other",audience="other"/);
    assert.doesNotMatch(text, /c-secretive|orders\.internal/);
  });
});
