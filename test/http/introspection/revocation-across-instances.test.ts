import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestService, type RegisteredClient, type TestService } from '../../helpers/start-app.ts';
import { testDatabaseProvider } from '../../helpers/test-database.ts';
import { changeFeeds, dropFeedConnections, msUntil, startSecondInstance } from '../../helpers/two-instances.ts';


// Two instances of one deployment: a shared PostgreSQL database, SQLite with Redis as the feed, or
// two processes on one SQLite file (its polled change counter makes each read the revocations back).
const feeds = [
  ...changeFeeds().map((f) => ({ ...f, canDrop: true })),
  { name: 'one SQLite file', env: {}, skip: testDatabaseProvider() === 'sqlite' ? false : 'SQLite only', canDrop: false },
];

for (const feed of feeds) {
  describe(`revocation across two instances over ${feed.name}`, { skip: feed.skip }, () => {
    let a: TestService;
    let b: TestService;
    let rsOnB: RegisteredClient;
    let svc: RegisteredClient;
    // No lockout: B refuses rs-b as unknown until the registration reaches it, and the wait below polls.
    const env = { ...feed.env, ISSUER: 'http://identity.test', RATE_LIMIT_AUTH_FAILURES: '0' };

    before(async () => {
      a = await startTestService(env);
      b = await startSecondInstance(a, env);
      rsOnB = await a.registerClient({ client_id: 'rs-b', introspection: true, scope: '', audience: [] });
      svc = await a.registerClient({ client_id: 'svc-x' });
    });
    after(async () => {
      await b?.stop();
      await a?.stop();
    });

    const activeOnB = async (token: string) => {
      const res = await b.agent.post('/introspect').auth(rsOnB.clientId, rsOnB.secret).type('form').send({ token });
      assert.equal(res.status, 200, res.text);
      return res.body.active as boolean;
    };
    const revokeOnA = async (token: string) => {
      const res = await a.agent.post('/revoke').auth(svc.clientId, svc.secret).type('form').send({ token });
      assert.equal(res.status, 200, res.text);
    };

    it('a token revoked on A is inactive on B within the feed\'s bound, far below the 60 s refresh', async (ctx) => {
      const probe = await a.tokenFor(svc.clientId, svc.secret);
      assert.notEqual(await msUntil(async () => {
        const res = await b.agent.post('/introspect').auth(rsOnB.clientId, rsOnB.secret).type('form').send({ token: probe });
        return res.status === 200 && res.body.active === true;
      }, 10_000), undefined, 'both clients registered on A are known to B');
      const figures: number[] = [];
      for (let round = 0; round < 5; round++) {
        const token = await a.tokenFor(svc.clientId, svc.secret);
        assert.equal(await activeOnB(token), true);
        await revokeOnA(token);
        const ms = await msUntil(async () => !(await activeOnB(token)), 10_000);
        assert.notEqual(ms, undefined, 'B answered active: false');
        figures.push(ms!);
      }
      ctx.diagnostic(`revoke on A -> inactive on B: ${figures.map((f) => f.toFixed(1)).join(', ')} ms`);
      assert.ok(Math.max(...figures) < 5_000, `propagation took ${Math.max(...figures)} ms`);
    });

    it('an admin cut-off made on A reaches B the same way', async (ctx) => {
      const token = await a.tokenFor(svc.clientId, svc.secret);
      assert.equal(await activeOnB(token), true);
      const res = await a.agent.post('/admin/clients/svc-x/revoke-tokens').set('authorization', `Bearer ${await a.adminToken()}`).send({});
      assert.equal(res.status, 200, res.text);
      const ms = await msUntil(async () => !(await activeOnB(token)), 10_000);
      ctx.diagnostic(`cut-off on A -> inactive on B: ${ms?.toFixed(1)} ms`);
      assert.notEqual(ms, undefined);
    });

    it('a revocation made while B\'s feed is down reaches B once it is back (read back on reconnect)', { skip: !feed.canDrop && 'no connection to drop' }, async () => {
      a.clock.advance(2); // past the cut-off of the test before
      b.clock.advance(2);
      const token = await a.tokenFor(svc.clientId, svc.secret);
      assert.equal(await activeOnB(token), true);
      await dropFeedConnections(feed.name, b);
      assert.notEqual(await msUntil(async () => !b.container.feed.live, 5_000), undefined, 'B noticed that its feed dropped');
      await revokeOnA(token);
      assert.notEqual(await msUntil(async () => !(await activeOnB(token)), 20_000), undefined, 'B read the revocation back');
      assert.notEqual(await msUntil(async () => b.container.feed.live, 15_000), undefined, 'B reconnected by itself');
    });

  });
}
