import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ExternalTokenRejected } from '../../src/issuers/external-token-verifier.ts';
import { startFakeIdentityProvider, type FakeIdentityProvider } from '../helpers/fake-idp.ts';
import { startTestService, type TestService } from '../helpers/start-app.ts';
import { changeFeeds, dropFeedConnections, msUntil, startSecondInstance } from '../helpers/two-instances.ts';

/**
 * A trusted-issuer change made on one instance reaches the other's in-memory registry over the
 * change feed: two services on one PostgreSQL database (LISTEN/NOTIFY), or on one SQLite file with
 * Redis pub/sub as the feed.
 */

const AUDIENCE = 'https://exchange.example';


for (const feed of changeFeeds()) {
  describe(`trusted issuers across two instances over ${feed.name}`, { skip: feed.skip }, () => {
    let a: TestService;
    let b: TestService;
    let idp: FakeIdentityProvider;
    let admin: string;
    // One deployment: the same ISSUER on both.
    const env = { ...feed.env, ISSUER: 'http://identity.test', ALLOW_INSECURE_JWKS_URI: 'true' };
    before(async () => {
      idp = await startFakeIdentityProvider(['ES256']);
      a = await startTestService(env);
      b = await startSecondInstance(a, env);
      admin = `Bearer ${await a.adminToken()}`;
    });
    after(async () => {
      await b?.stop();
      await a?.stop();
      await idp?.close();
    });

    const outcome = async (t: TestService, token: string) => {
      try {
        return (await t.container.externalTokens.verify({ token, now: t.clock.now() })).subject;
      } catch (error) {
        if (error instanceof ExternalTokenRejected) return error.reason;
        throw error;
      }
    };

    it('registration, disabling, a key change and deletion on A take effect on B within the documented bound (1 s)', async (ctx) => {
      const token = await idp.sign({ sub: 'alice', aud: AUDIENCE });
      assert.equal(await outcome(b, token), 'unknown_issuer', 'B loaded the (empty) registry at start-up');
      const figures: Record<string, number> = {};
      const step = async (name: string, change: () => Promise<unknown>, expected: string) => {
        await change();
        const ms = await msUntil(async () => (await outcome(b, token)) === expected, 10_000);
        assert.notEqual(ms, undefined, `${name}: B answered ${await outcome(b, token)}, not ${expected}`);
        figures[name] = ms!;
      };
      let id = '';
      await step('register', async () => {
        const res = await a.agent.post('/admin/trusted-issuers').set('authorization', admin)
          .send({ issuer: idp.issuer, jwks: idp.publicJwks(), audiences: [AUDIENCE], algorithms: ['ES256'] });
        assert.equal(res.status, 201, res.text);
        id = res.body.id;
      }, 'alice');
      const patch = async (body: Record<string, unknown>) => {
        const res = await a.agent.patch(`/admin/trusted-issuers/${id}`).set('authorization', admin).send(body);
        assert.equal(res.status, 200, res.text);
      };
      await step('disable', () => patch({ disabled: true }), 'unknown_issuer');
      await step('enable', () => patch({ disabled: false }), 'alice');
      await step('audience change', () => patch({ audiences: ['https://elsewhere.example'] }), 'audience_mismatch');
      await step('key change', async () => {
        const other = await startFakeIdentityProvider(['ES256']);
        await other.close();
        await patch({ audiences: [AUDIENCE], jwks: other.publicJwks() });
      }, 'unknown_key');
      await step('delete', async () => {
        const res = await a.agent.delete(`/admin/trusted-issuers/${id}`).set('authorization', admin);
        assert.equal(res.status, 204);
      }, 'unknown_issuer');
      ctx.diagnostic(`change on A -> seen on B: ${Object.entries(figures).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(', ')}`);
      // Far above what the feed takes, far below the 60 s safety-net reload: only a broken feed fails it.
      assert.ok(Math.max(...Object.values(figures)) < 5_000, JSON.stringify(figures));
    });

    it('reads the database while its feed is down, so a change made meanwhile is never missed', async (ctx) => {
      if (feed.name.startsWith('Redis')) return ctx.skip('feed loss is exercised on PostgreSQL');
      const res = await a.agent.post('/admin/trusted-issuers').set('authorization', admin)
        .send({ issuer: idp.issuer, jwks: idp.publicJwks(), audiences: [AUDIENCE], algorithms: ['ES256'] });
      assert.equal(res.status, 201, res.text);
      const token = await idp.sign({ sub: 'alice', aud: AUDIENCE });
      assert.notEqual(await msUntil(async () => (await outcome(b, token)) === 'alice', 10_000), undefined);
      await dropFeedConnections(feed.name, b);
      assert.notEqual(await msUntil(async () => !b.container.feed.live, 5_000), undefined, 'B noticed that its feed dropped');
      const disable = await a.agent.patch(`/admin/trusted-issuers/${res.body.id}`).set('authorization', admin).send({ disabled: true });
      assert.equal(disable.status, 200, disable.text);
      // Whether B still reads the database or has reconnected and reloaded by now, it must not answer from before the loss.
      assert.equal(await outcome(b, token), 'unknown_issuer', 'B did not answer from what it held before the loss');
      assert.notEqual(await msUntil(async () => b.container.feed.live, 15_000), undefined, 'B reconnected by itself');
      assert.equal(await outcome(b, token), 'unknown_issuer');
      const enable = await a.agent.patch(`/admin/trusted-issuers/${res.body.id}`).set('authorization', admin).send({ disabled: false });
      assert.equal(enable.status, 200);
      assert.notEqual(await msUntil(async () => (await outcome(b, token)) === 'alice', 5_000), undefined, 'notifications flow again');
      assert.equal(b.container.trustedIssuerRegistry.stats().caching, true);
    });
  });
}
