import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { it } from 'node:test';
import type { Change } from '../../src/changes/change-feed.ts';
import { createLocalChangeFeed } from '../../src/changes/local-change-feed.ts';

it('as a cluster worker, publish returns once the primary has relayed the change, and relayed changes reach the listeners', async () => {
  const channel = new EventEmitter();
  const relayed: string[] = [];
  let acknowledge!: () => void;
  const feed = createLocalChangeFeed({
    channel: channel as unknown as Pick<NodeJS.Process, 'on' | 'off'>,
    relay: (change) => {
      relayed.push(change);
      return new Promise<void>((resolve) => { acknowledge = resolve; });
    },
  });
  const seen: Change[] = [];
  feed.subscribe({ changed: (c) => seen.push(c), reset: () => undefined });
  let published = false;
  const publishing = feed.publish([{ kind: 'client', clientId: 'orders' }]).then(() => { published = true; });
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(seen, [{ kind: 'client', clientId: 'orders' }], 'this worker\'s listeners have it at once');
  assert.deepEqual(relayed, ['c orders']);
  assert.equal(published, false, 'the admin call waits for the other workers');
  acknowledge();
  await publishing;
  channel.emit('message', { type: 'identity-backend:change', change: 'k' });
  channel.emit('message', { type: 'something-else', change: 'i' });
  assert.deepEqual(seen.at(-1), { kind: 'keys' });
  assert.equal(seen.length, 2);
  await feed.close();
  channel.emit('message', { type: 'identity-backend:change', change: 'i' });
  assert.equal(seen.length, 2, 'closed: no longer listening');
  assert.equal(feed.name, 'cluster-ipc');
  assert.equal(createLocalChangeFeed().name, 'in-process');
});
