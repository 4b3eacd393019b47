import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { BOOTSTRAP_SECRET, startTestService, type TestService } from '../../helpers/start-app.ts';
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

  it('counts a client against its own quota where it has one: smaller, or 0 for none; null follows the deployment\'s again', async () => {
    const admin = `Bearer ${await t.adminToken()}`;
    const tight = await t.registerClient({ client_id: 'c-own-quota', token_quota_per_hour: 1 });
    assert.equal(tight.body.token_quota_per_hour, 1);
    assert.equal(tight.body.token_quota_per_day, null);
    const exempt = await t.registerClient({ client_id: 'c-no-quota', token_quota_per_hour: 0, token_quota_per_day: 0 });
    const statuses = async (c: { clientId: string; secret: string }, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await token(t, c.clientId, c.secret)).status);
      return out;
    };
    assert.deepEqual(await statuses(tight, 2), [200, 429]);
    assert.deepEqual(await statuses(exempt, 6), [200, 200, 200, 200, 200, 200], 'past the deployment\'s 3 per hour');
    // Back to the deployment's 3 per hour: the token already counted stays counted.
    const reset = await t.agent.patch('/admin/clients/c-own-quota').set('authorization', admin).send({ token_quota_per_hour: null });
    assert.equal(reset.status, 200, reset.text);
    expectMatchesOpenApi(reset, 'PATCH', '/admin/clients/{client_id}');
    assert.equal(reset.body.token_quota_per_hour, null);
    assert.deepEqual(await statuses(tight, 3), [200, 200, 429]);
    // An exempt client's tokens were not counted: a daily quota of 1 set now allows one more, and
    // the refusal names its window.
    const daily = await t.agent.patch('/admin/clients/c-no-quota').set('authorization', admin).send({ token_quota_per_day: 1 });
    assert.equal(daily.status, 200, daily.text);
    assert.equal((await token(t, exempt.clientId, exempt.secret)).status, 200);
    const over = await token(t, exempt.clientId, exempt.secret);
    assert.equal(over.status, 429);
    assert.match(over.body.error_description, /quota for this day/);
  });

  it('refuses a quota that is not a whole number of tokens from 0 to 10^9, naming the field', async () => {
    const admin = `Bearer ${await t.adminToken()}`;
    for (const [field, value] of [
      ['token_quota_per_hour', -1], ['token_quota_per_hour', 1.5], ['token_quota_per_day', '5'], ['token_quota_per_day', 1e10], ['token_quota_per_hour', true],
    ] as const) {
      const res = await t.agent.post('/admin/clients').set('authorization', admin)
        .send({ client_name: 'bad quota', scope: 'orders:read', audience: ['https://orders.internal'], [field]: value });
      assert.equal(res.status, 400, `${field}=${JSON.stringify(value)}: ${res.text}`);
      assert.match(res.headers['content-type'] ?? '', /application\/problem\+json/);
      assert.deepEqual(res.body.invalid_params.map((p: { name: string }) => p.name), [field]);
    }
    const patch = await t.agent.patch('/admin/clients/c-quota-other').set('authorization', admin).send({ token_quota_per_day: -5 });
    assert.equal(patch.status, 400, patch.text);
    assert.deepEqual(patch.body.invalid_params.map((p: { name: string }) => p.name), ['token_quota_per_day']);
    const unchanged = await t.agent.get('/admin/clients/c-quota-other').set('authorization', admin);
    assert.equal(unchanged.body.token_quota_per_day, null);
  });

  it('exempts the bootstrap administrator created at first start, and can hold it to a quota like any client', async () => {
    const admin = await t.agent.get(`/admin/clients/${t.config.bootstrapAdmin.clientId}`).set('authorization', `Bearer ${await t.adminToken()}`);
    assert.equal(admin.status, 200, admin.text);
    assert.deepEqual([admin.body.token_quota_per_hour, admin.body.token_quota_per_day], [0, 0]);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await token(t, t.config.bootstrapAdmin.clientId, BOOTSTRAP_SECRET)).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200], 'past the deployment\'s 3 per hour');
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

describe('a client\'s own issuance quota where the deployment sets none', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t?.stop());

  it('applies it to that client only, and takes a refused request back out of the count', async () => {
    const limited = await t.registerClient({ client_id: 'c-limited', token_quota_per_day: 2 });
    const free = await t.registerClient({ client_id: 'c-free' });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await token(t, limited.clientId, limited.secret)).status);
    assert.deepEqual(statuses, [200, 200, 429, 429]);
    const [denied] = await t.auditEvents({ type: 'token.denied', clientId: limited.clientId });
    assert.equal(denied?.reason, 'quota_exceeded');
    for (let i = 0; i < 4; i++) assert.equal((await token(t, free.clientId, free.secret)).status, 200);
    // Raised to 3: the two refusals were not counted, so one more token is issued.
    const res = await t.agent.patch('/admin/clients/c-limited').set('authorization', `Bearer ${await t.adminToken()}`).send({ token_quota_per_day: 3 });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual([(await token(t, limited.clientId, limited.secret)).status, (await token(t, limited.clientId, limited.secret)).status], [200, 429]);
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
