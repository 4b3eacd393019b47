import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestService, type TestService } from '../helpers/start-app.ts';
import { changeFeeds, dropFeedConnections, msUntil, startSecondInstance } from '../helpers/two-instances.ts';

function token(t: TestService, clientId: string, secret: string, params: Record<string, string> = {}) {
  return t.agent.post('/token').auth(clientId, secret).type('form').send({ grant_type: 'client_credentials', ...params });
}

async function patch(t: TestService, clientId: string, body: Record<string, unknown>) {
  const res = await t.agent.patch(`/admin/clients/${clientId}`).set('authorization', `Bearer ${await t.adminToken()}`).send(body);
  assert.equal(res.status, 200, res.text);
}


describe('client directory: a change takes effect on this instance before the admin call returns', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t.stop());

  it('refuses a client at once once it is disabled, and accepts it again once enabled', async () => {
    const c = await t.registerClient({ client_id: `inv-disable-${Date.now()}` });
    assert.equal((await token(t, c.clientId, c.secret)).status, 200, 'a new client is usable at once');
    await patch(t, c.clientId, { disabled: true });
    const refused = await token(t, c.clientId, c.secret);
    assert.equal(refused.status, 401);
    const [denied] = (await t.auditEvents({ type: 'token.denied', clientId: c.clientId })).filter((e) => e.requestId === refused.headers['x-request-id']);
    assert.equal(denied?.reason, 'client_disabled');
    await patch(t, c.clientId, { disabled: false });
    assert.equal((await token(t, c.clientId, c.secret)).status, 200);
  });

  it('stops the old secret at once after a rotation without grace', async () => {
    const c = await t.registerClient({ client_id: `inv-rotate-${Date.now()}` });
    assert.equal((await token(t, c.clientId, c.secret)).status, 200);
    const rotated = await t.agent.post(`/admin/clients/${c.clientId}/secret`).set('authorization', `Bearer ${await t.adminToken()}`).send({});
    assert.equal(rotated.status, 200, rotated.text);
    assert.equal((await token(t, c.clientId, c.secret)).status, 401);
    assert.equal((await token(t, c.clientId, rotated.body.client_secret)).status, 200);
  });

  it('applies new scopes and audiences at once', async () => {
    const c = await t.registerClient({ client_id: `inv-scope-${Date.now()}` });
    assert.equal((await token(t, c.clientId, c.secret, { scope: 'orders:write' })).status, 200);
    await patch(t, c.clientId, { scope: 'orders:read', audience: ['https://billing.internal'] });
    assert.equal((await token(t, c.clientId, c.secret, { scope: 'orders:write' })).body.error, 'invalid_scope');
    const res = await token(t, c.clientId, c.secret);
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(Buffer.from(res.body.access_token.split('.')[1], 'base64url').toString()).aud, 'https://billing.internal');
  });

  it('forgets a deleted client at once', async () => {
    const c = await t.registerClient({ client_id: `inv-delete-${Date.now()}` });
    assert.equal((await token(t, c.clientId, c.secret)).status, 200);
    const del = await t.agent.delete(`/admin/clients/${c.clientId}`).set('authorization', `Bearer ${await t.adminToken()}`);
    assert.equal(del.status, 204);
    assert.equal((await token(t, c.clientId, c.secret)).status, 401);
  });

  it('sees a write made straight through the repository, outside the admin API (as the CLI or bootstrap do)', async () => {
    const c = await t.registerClient({ client_id: `inv-direct-${Date.now()}` });
    assert.equal((await token(t, c.clientId, c.secret)).status, 200);
    await t.container.uow.stores.clients.update(c.clientId, { disabled: true });
    assert.equal((await token(t, c.clientId, c.secret)).status, 401);
  });

  it('answers random unknown ids from memory: no database read, no growth', async () => {
    const before = t.container.directory.stats();
    assert.equal(before.complete, true, 'every client fits, so every id is known to memory');
    for (let i = 0; i < 300; i++) assert.equal((await token(t, `random-${i}-${Date.now()}`, 'x'.repeat(43))).status, 401);
    const afterStats = t.container.directory.stats();
    assert.equal(afterStats.misses, before.misses, 'no lookup went to the database');
    assert.equal(afterStats.unknown, 0);
    assert.equal(afterStats.known, before.known);
  });
});

// Several instances of one deployment need a shared database server, or SQLite with Redis as the feed.
for (const feed of changeFeeds()) {
  describe(`client directory across two instances over ${feed.name}`, { skip: feed.skip }, () => {
    let a: TestService;
    let b: TestService;
    // KEY_SYNC_INTERVAL is long, so a key change reaching B quickly can only be the feed's doing.
    // One deployment: the same ISSUER on both (the database records it, and would move admin audiences).
    // No lockout: B refuses a client as unknown until its registration arrives, and the polls count
    // those refusals (shared through Redis) until the failure limit would answer 429 instead.
    const env = { ...feed.env, ISSUER: 'http://identity.test', KEY_SYNC_INTERVAL: '60', RATE_LIMIT_AUTH_FAILURES: '0' };
    before(async () => {
      a = await startTestService(env);
      b = await startSecondInstance(a, env);
    });
    after(async () => {
      await b?.stop();
      await a?.stop();
    });

    it('refuses a client disabled on the other instance within the documented bound (1 s)', async (ctx) => {
      const figures: number[] = [];
      for (let round = 0; round < 5; round++) {
        const c = await a.registerClient({ client_id: `x-${round}-${Date.now()}` });
        const first = await msUntil(async () => (await token(b, c.clientId, c.secret)).status === 200, 10_000);
        assert.notEqual(first, undefined, 'a client registered on A becomes usable on B');
        await patch(a, c.clientId, { disabled: true });
        const ms = await msUntil(async () => (await token(b, c.clientId, c.secret)).status === 401, 10_000);
        assert.notEqual(ms, undefined, 'B refused the disabled client before the 60 s TTL could have done it');
        figures.push(ms!);
      }
      ctx.diagnostic(`disable on A -> refused on B: ${figures.map((f) => f.toFixed(1)).join(', ')} ms`);
      // A generous bound: far above what the feed takes, far below the 60 s TTL, so only a broken feed fails it.
      assert.ok(Math.max(...figures) < 5_000, `propagation took ${Math.max(...figures)} ms`);
    });

    it('never serves a disabled client while its feed is down, and caches again once it is back', async () => {
      const c = await a.registerClient({ client_id: `loss-${Date.now()}` });
      assert.notEqual(await msUntil(async () => (await token(b, c.clientId, c.secret)).status === 200, 10_000), undefined);
      await dropFeedConnections(feed.name, b);
      assert.notEqual(await msUntil(async () => !b.container.feed.live, 5_000), undefined, 'B noticed that its feed dropped');
      await patch(a, c.clientId, { disabled: true });
      assert.equal((await token(b, c.clientId, c.secret)).status, 401, 'B read the database, not what it held before the loss');
      assert.notEqual(await msUntil(async () => b.container.feed.live, 15_000), undefined, 'B reconnected by itself');
      assert.equal((await token(b, c.clientId, c.secret)).status, 401);
      await patch(a, c.clientId, { disabled: false });
      assert.notEqual(await msUntil(async () => (await token(b, c.clientId, c.secret)).status === 200, 5_000), undefined, 'notifications flow again');
    });

    // Last: the revoked key signed the admin token the helpers hold.
    it('publishes a key revocation on the other instance well before KEY_SYNC_INTERVAL', async (ctx) => {
      const [active] = (await a.agent.get('/.well-known/jwks.json')).body.keys as Array<{ kid: string }>;
      const res = await a.agent.post(`/admin/keys/${active!.kid}/revoke`).set('authorization', `Bearer ${await a.adminToken()}`);
      assert.equal(res.status, 200, res.text);
      const ms = await msUntil(async () => !b.container.keys.jwks().body.includes(active!.kid), 10_000);
      ctx.diagnostic(`revoke on A -> gone from B's JWKS: ${ms?.toFixed(1)} ms`);
      assert.notEqual(ms, undefined, 'B dropped the revoked key without waiting for its 60 s sync');
    });

  });
}
