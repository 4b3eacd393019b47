import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { startTestService, type TestService } from '../../helpers/start-app.ts';
import { testDatabaseProvider } from '../../helpers/test-database.ts';
import { redisTestEnv, startSecondInstance } from '../../helpers/two-instances.ts';

const token = (t: TestService, id: string, secret: string) =>
  t.agent.post('/token').auth(id, secret).type('form').send({ grant_type: 'client_credentials' });

describe('issuance quotas per client (one instance) and the token-reuse view', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService({ TOKEN_QUOTA_PER_HOUR: '3', TOKEN_QUOTA_PER_DAY: '100' });
  });
  after(() => t?.stop());

  it('answers 429 with Retry-After past the hourly quota and audits quota_exceeded', async () => {
    const c = await t.registerClient({ client_id: 'c-quota' });
    const other = await t.registerClient({ client_id: 'c-quota-other' });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await token(t, c.clientId, c.secret)).status);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    const over = await token(t, c.clientId, c.secret);
    assert.equal(over.status, 429);
    assert.equal(over.body.error, 'rate_limited');
    assert.match(over.body.error_description, /quota for this hour/);
    const retryAfter = Number(over.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 3600, String(retryAfter));
    const [denied] = await t.auditEvents({ type: 'token.denied', clientId: c.clientId });
    assert.equal(denied?.reason, 'quota_exceeded');
    // Another client's quota is its own; a wrong secret never reaches (or spends) the quota.
    assert.equal((await token(t, other.clientId, other.secret)).status, 200);
    assert.equal((await token(t, other.clientId, 'wrong')).status, 401);
  });

  it('lists the clients that ask for a new token on every call, per token lifetime', async () => {
    const c = await t.registerClient({ client_id: 'c-nocache', access_token_ttl: 600 });
    for (let i = 0; i < 3; i++) assert.equal((await token(t, c.clientId, c.secret)).status, 200);
    const admin = `Bearer ${await t.adminToken()}`;
    const res = await t.agent.get('/admin/audit/token-reuse').query({ window: '10m' }).set('authorization', admin);
    assert.equal(res.status, 200, res.text);
    expectMatchesOpenApi(res, 'GET', '/admin/audit/token-reuse');
    assert.equal(res.body.window_seconds, 600);
    const row = res.body.items.find((i: { client_id: string }) => i.client_id === 'c-nocache');
    assert.deepEqual(row, { client_id: 'c-nocache', tokens: 3, token_lifetime_seconds: 600, tokens_per_lifetime: 3 });
    assert.ok(res.body.items[0].tokens_per_lifetime >= row.tokens_per_lifetime, 'most first');
    const bad = await t.agent.get('/admin/audit/token-reuse').query({ window: 'forever' }).set('authorization', admin);
    assert.equal(bad.status, 400);
    assert.ok(bad.body.invalid_params.some((p: { name: string }) => p.name === 'window'));
  });
});

const skip = !process.env.REDIS_URL ? 'REDIS_URL is not set'
  : testDatabaseProvider() !== 'postgresql' ? 'several instances need PostgreSQL (DATABASE_URL)' : false;

describe('issuance quotas shared across instances through Redis', { skip }, () => {
  let a: TestService;
  let b: TestService;
  // Counted under a key prefix of this run only (redisTestEnv): the administrator's tokens of
  // earlier runs, within the 24 h window, do not spend this one's quota.
  const env = { ISSUER: 'http://identity.test', ...redisTestEnv(), TOKEN_QUOTA_PER_DAY: '4' };
  before(async () => {
    a = await startTestService(env);
    b = await startSecondInstance(a, env);
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
  });

  it('counts one client\'s tokens together when requests alternate between two instances', async () => {
    const c = await a.registerClient({ client_id: 'quota-c' });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await token(i % 2 ? b : a, c.clientId, c.secret)).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    const over = await token(b, c.clientId, c.secret);
    assert.match(over.body.error_description, /quota for this day/);
    assert.ok(Number(over.headers['retry-after']) > 3600);
    const [denied] = await b.auditEvents({ type: 'token.denied', clientId: c.clientId });
    assert.equal(denied?.reason, 'quota_exceeded');
  });
});

describe('deployments sharing one Redis are kept apart by REDIS_KEY_PREFIX', { skip: !process.env.REDIS_URL ? 'REDIS_URL is not set' : false }, () => {
  // Three services with databases of their own (three deployments), each with a client of the same id.
  const run = Date.now();
  const services: TestService[] = [];
  const start = (prefix: string, n: number) => startTestService({
    ...redisTestEnv(),
    REDIS_KEY_PREFIX: prefix,
    TOKEN_QUOTA_PER_DAY: '2',
    BOOTSTRAP_ADMIN_CLIENT_ID: `prefix-admin-${n}-${run}`,
  }).then((t) => (services.push(t), t));
  after(async () => {
    for (const t of services) await t.stop();
  });

  it('counts a client id once per prefix: another prefix has its own quota, the same prefix shares it', async () => {
    const [a, b, sameAsA] = [await start(`qa-${run}:`, 1), await start(`qb-${run}:`, 2), await start(`qa-${run}:`, 3)];
    const clientId = `shared-${run}`;
    const [ca, cb, cs] = [await a.registerClient({ client_id: clientId }), await b.registerClient({ client_id: clientId }), await sameAsA.registerClient({ client_id: clientId })];
    const statuses = async (t: TestService, c: { clientId: string; secret: string }, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await token(t, c.clientId, c.secret)).status);
      return out;
    };
    assert.deepEqual(await statuses(a, ca, 2), [200, 200]);
    assert.deepEqual(await statuses(b, cb, 3), [200, 200, 429], 'its own two, under another prefix');
    assert.deepEqual(await statuses(sameAsA, cs, 1), [429], 'the same prefix counts the same client id together');
  });
});
