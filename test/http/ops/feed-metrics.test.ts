import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestService, type TestService } from '../../helpers/start-app.ts';
import { testDatabaseProvider } from '../../helpers/test-database.ts';
import { changeFeeds, dropFeedConnections, msUntil } from '../../helpers/two-instances.ts';

/** The value of one series of the exposition text, or undefined when it is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const feedLabel = { 'PostgreSQL LISTEN/NOTIFY': 'postgresql', 'Redis pub/sub': 'redis' } as const;

for (const feed of changeFeeds()) {
  describe(`change feed metrics over ${feed.name}`, { skip: feed.skip }, () => {
    let t: TestService;
    const label = feedLabel[feed.name];
    const metrics = async () => (await t.agent.get('/metrics')).text;
    before(async () => {
      t = await startTestService(feed.env);
    });
    after(() => t?.stop());

    it('reports the feed live, the lag of its probes and the seconds since one came back; again after the connection is cut', async (ctx) => {
      const echoes = async () => sample(await metrics(), `identity_change_feed_lag_seconds_count{feed="${label}"}`) ?? 0;
      assert.notEqual(await msUntil(async () => (await echoes()) >= 1, 15_000), undefined, 'a probe came back over the feed');
      const text = await metrics();
      assert.equal(sample(text, `identity_change_feed_live{feed="${label}"}`), 1);
      const since = sample(text, `identity_change_feed_seconds_since_echo{feed="${label}"}`);
      assert.ok(since !== undefined && since >= 0 && since < 15, String(since));
      const lagSum = sample(text, `identity_change_feed_lag_seconds_sum{feed="${label}"}`)!;
      ctx.diagnostic(`probe round trip over ${feed.name}: ${(lagSum * 1000 / (await echoes())).toFixed(2)} ms on average`);
      // Cut: the feed reconnects by itself and a probe goes out as soon as it is live again.
      const before = await echoes();
      await dropFeedConnections(feed.name, t);
      assert.notEqual(await msUntil(async () => (await echoes()) > before, 20_000), undefined, 'probes come back after the reconnect');
      assert.equal(sample(await metrics(), `identity_change_feed_live{feed="${label}"}`), 1);
    });
  });
}

describe('change feed metrics of one process on SQLite', { skip: testDatabaseProvider() === 'sqlite' ? false : 'SQLite only' }, () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t?.stop());

  it('reports the in-process feed live, with nothing to probe', async () => {
    const text = (await t.agent.get('/metrics')).text;
    assert.equal(sample(text, 'identity_change_feed_live{feed="in-process"}'), 1);
    assert.match(text, /^# TYPE identity_change_feed_lag_seconds histogram$/m);
    assert.doesNotMatch(text, /^identity_change_feed_(lag_seconds_count|seconds_since_echo)\{/m);
  });
});
