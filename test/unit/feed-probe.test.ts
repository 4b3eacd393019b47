import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeChange, remoteFeed, type Change } from '../../src/changes/change-feed.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits for `done`, however busy the machine (timers can fire late and an interval does not catch up). */
async function until(done: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !done(); waited += 10) {
    if (waited > 10_000) assert.fail(`not within 10 s: ${what}`);
    await sleep(10);
  }
}

/** A feed whose channel hands every message back after `delayMs`, as Redis or NOTIFY hand a publisher its own. */
function loopback(delayMs: number, opts: { live?: () => boolean; fail?: () => boolean; probeMs?: number } = {}) {
  const sent: string[] = [];
  let received: (text: string) => void = () => undefined;
  const made = remoteFeed('test', opts.live ?? (() => true), async (text) => {
    sent.push(text);
    if (opts.fail?.()) throw new Error('publish failed');
    setTimeout(() => received(text), delayMs);
  }, async () => undefined, opts.probeMs ?? 60_000);
  received = made.received;
  return { ...made, sent };
}

describe('the change feed\'s probe of its own delivery', () => {
  it('times a probe that comes back, from the moment the feed is live, and only its own', async () => {
    const { feed, listeners, received, sent } = loopback(30);
    const echoes: number[] = [];
    feed.probe!.onEcho((s) => echoes.push(s));
    assert.equal(feed.probe!.secondsSinceEcho(), undefined, 'nothing before the first echo');
    listeners.reset(true);
    assert.equal(sent.length, 1, 'a probe goes out as soon as the feed is live');
    assert.match(sent[0]!, /^p \S+ 1$/);
    await sleep(120);
    assert.equal(echoes.length, 1);
    assert.ok(echoes[0]! >= 0.025 && echoes[0]! < 5, String(echoes[0]));
    assert.ok(feed.probe!.secondsSinceEcho()! < 5);
    // Another instance's probe, one that was never sent, or one that came back already: not timed.
    received(sent[0]!.replace(/^p \S+/, 'p someone-else'));
    received(sent[0]!.replace(/ 1$/, ' 99'));
    received(sent[0]!);
    assert.equal(echoes.length, 1);
    await feed.close();
  });

  it('passes changes on to the listeners as before, and never takes a probe for a change', async () => {
    const { feed, received, sent } = loopback(0);
    const seen: Change[] = [];
    let resets = 0;
    feed.subscribe({ changed: (c) => seen.push(c), reset: () => void resets++ });
    await feed.publish([{ kind: 'client', clientId: 'orders' }]);
    received('c billing');
    received('p abc 1');
    // Not a probe in its form, and no change either: ignored.
    for (const text of ['p abc', 'p abc x', 'p  1', 'p a b 1']) received(text);
    assert.deepEqual(seen, [{ kind: 'client', clientId: 'orders' }, { kind: 'client', clientId: 'billing' }]);
    assert.deepEqual(sent, ['c orders']);
    // Instances of earlier versions ignore a probe: a rolling deploy can mix them.
    assert.equal(decodeChange('p abc 1'), undefined);
    await feed.close();
  });

  it('sends probes on its interval while live only; a probe that is lost leaves the age growing', async () => {
    let live = false;
    let failing = true;
    let ticks = 0;
    const { feed, sent } = loopback(0, { live: () => (ticks++, live), fail: () => failing, probeMs: 20 });
    const echoes: number[] = [];
    feed.probe!.onEcho((s) => echoes.push(s));
    await until(() => ticks >= 3, 'three ticks of the interval');
    assert.equal(sent.length, 0, 'no probe while the feed is down');
    live = true;
    await until(() => sent.length >= 2, 'two probes once live');
    assert.equal(echoes.length, 0, 'a publish that failed is a probe that never comes back');
    failing = false;
    await until(() => echoes.length >= 1, 'an echo once publishing works');
    const ageAfterEcho = feed.probe!.secondsSinceEcho()!;
    failing = true;
    await sleep(100);
    assert.ok(feed.probe!.secondsSinceEcho()! > ageAfterEcho, 'the age grows while nothing comes back');
    await feed.close();
    const after = sent.length;
    await sleep(60);
    assert.equal(sent.length, after, 'close stops the probes');
  });
});
