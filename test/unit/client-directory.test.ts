import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createClientDirectory, type ClientDirectoryOptions } from '../../src/clients/client-directory.ts';
import type { ClientCredentialsRecord } from '../../src/oauth/client-auth/client-auth-method.ts';

function record(clientId: string, disabled = false): ClientCredentialsRecord {
  return { client: { clientId, disabled } as ClientCredentialsRecord['client'], secrets: [] };
}

/** A fake database of clients that counts reads, with reads that can be held open. */
function fakeDatabase(ids: string[]) {
  const rows = new Map(ids.map((id) => [id, record(id)]));
  const reads: string[] = [];
  let hold: Promise<void> | undefined;
  return {
    rows,
    reads,
    holdReads(until: Promise<void>) {
      hold = until;
    },
    load: async (id: string) => {
      reads.push(id);
      const snapshot = rows.get(id);
      if (hold) await hold;
      return snapshot;
    },
    loadAll: async (limit: number) => [...rows.values()].slice(0, limit),
  };
}

function directory(db: ReturnType<typeof fakeDatabase>, overrides: Partial<ClientDirectoryOptions> = {}) {
  return createClientDirectory({ load: db.load, loadAll: db.loadAll, capacity: 100, negativeCapacity: 50, ttlMs: 60_000, negativeTtlMs: 5_000, ...overrides });
}

describe('client directory', () => {
  it('answers known and unknown ids from memory once every client is loaded (complete)', async () => {
    const db = fakeDatabase(['a', 'b']);
    const dir = directory(db);
    await dir.warm();
    assert.equal((await dir.find('a'))?.client.clientId, 'a');
    for (let i = 0; i < 1000; i++) assert.equal(await dir.find(`random-${i}`), undefined);
    assert.deepEqual(db.reads, [], 'neither known nor unknown ids reached the database');
    assert.equal(dir.stats().complete, true);
    assert.equal(dir.stats().unknown, 0);
  });

  it('reads a changed id again: a new client is found, a deleted one is gone, at once', async () => {
    const db = fakeDatabase(['a']);
    const dir = directory(db);
    await dir.warm();
    db.rows.set('new', record('new'));
    assert.equal(await dir.find('new'), undefined, 'without a change notification the full set is trusted');
    dir.invalidate('new');
    assert.equal((await dir.find('new'))?.client.clientId, 'new');
    db.rows.delete('a');
    dir.invalidate('a');
    assert.equal(await dir.find('a'), undefined);
    assert.deepEqual(db.reads, ['new', 'a']);
  });

  it('never keeps a read that was in flight when the change arrived', async () => {
    const db = fakeDatabase(['a']);
    const dir = directory(db, { capacity: 1 });
    let release!: () => void;
    db.holdReads(new Promise<void>((r) => { release = r; }));
    const inFlight = dir.find('a');
    db.rows.set('a', record('a', true));
    dir.invalidate('a');
    const after = dir.find('a');
    release();
    assert.equal((await inFlight)?.client.disabled, false, 'the early reader gets what it read');
    assert.equal((await after)?.client.disabled, true, 'a lookup after the change never joins the stale read');
    db.holdReads(Promise.resolve());
    assert.equal((await dir.find('a'))?.client.disabled, true, 'and the stale read was not kept');
  });

  it('keeps at most capacity clients (LRU) and negativeCapacity unknown ids, so random ids cannot push known clients out', async () => {
    const db = fakeDatabase(Array.from({ length: 10 }, (_, i) => `c${i}`));
    const dir = directory(db, { capacity: 5, negativeCapacity: 20 });
    await dir.warm();
    assert.equal(dir.stats().complete, false, 'ten clients do not fit in five');
    for (let i = 0; i < 5; i++) await dir.find(`c${i}`);
    for (let i = 0; i < 500; i++) await dir.find(`random-${i}`);
    const { known, unknown } = dir.stats();
    assert.equal(known, 5);
    assert.equal(unknown, 20);
    const reads = db.reads.length;
    for (let i = 0; i < 5; i++) await dir.find(`c${i}`);
    assert.equal(db.reads.length, reads, 'the known clients are all still in memory');
    await dir.find('c9');
    assert.equal(dir.stats().known, 5, 'a sixth client evicts the least recently used');
  });

  it('remembers an unknown id briefly when the set is not complete', async () => {
    let t = 0;
    const db = fakeDatabase([]);
    const dir = directory(db, { capacity: 0, now: () => t });
    await dir.find('ghost');
    await dir.find('ghost');
    assert.deepEqual(db.reads, ['ghost']);
    t += 5_001;
    await dir.find('ghost');
    assert.deepEqual(db.reads, ['ghost', 'ghost']);
  });

  it('expires entries after the TTL, the safety net for a lost notification', async () => {
    let t = 0;
    const db = fakeDatabase(['a']);
    const dir = directory(db, { now: () => t });
    await dir.warm();
    db.rows.set('a', record('a', true));
    assert.equal((await dir.find('a'))?.client.disabled, false);
    t += 60_001;
    assert.equal((await dir.find('a'))?.client.disabled, true);
  });

  it('reads the database for every lookup while the change feed is down, and reloads when it is back', async () => {
    const db = fakeDatabase(['a']);
    const dir = directory(db);
    await dir.warm();
    const listener = dir.listener();
    listener.reset(false);
    await dir.find('a');
    await dir.find('a');
    assert.deepEqual(db.reads, ['a', 'a'], 'nothing is kept while changes could be missed');
    listener.reset(true);
    await dir.warm();
    await dir.find('a');
    assert.deepEqual(db.reads, ['a', 'a']);
  });
});
