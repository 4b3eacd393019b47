import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TrustedIssuer } from '../../src/issuers/trusted-issuer.ts';
import { createTrustedIssuerRegistry } from '../../src/issuers/trusted-issuer-registry.ts';
import { StorageUnavailable } from '../../src/shared/errors.ts';

function issuer(iss: string, fields: Partial<TrustedIssuer> = {}): TrustedIssuer {
  return {
    id: `id-${iss}`, issuer: iss, jwksUri: null, jwks: { keys: [] }, audiences: ['a'], algorithms: ['RS256'], subjectClaim: 'sub',
    maxTokenAge: null, description: null, disabled: false, createdAt: new Date(0), updatedAt: new Date(0), ...fields,
  };
}

/** A database whose full loads the test releases one at a time. */
function controlledStore(initial: TrustedIssuer[]) {
  let rows = initial;
  const waiting: Array<() => void> = [];
  let failNext = false;
  let loads = 0;
  return {
    set: (next: TrustedIssuer[]) => void (rows = next),
    failNext: () => void (failNext = true),
    loads: () => loads,
    pending: () => waiting.length,
    release: () => waiting.shift()?.(),
    options: {
      loadAll: () => new Promise<TrustedIssuer[]>((resolve, reject) => {
        loads += 1;
        // What the database holds when the query runs, not when it is answered.
        const snapshot = rows;
        const fail = failNext;
        failNext = false;
        waiting.push(() => (fail ? reject(new StorageUnavailable()) : resolve(snapshot)));
      }),
      loadOne: async (iss: string) => rows.find((r) => r.issuer === iss),
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('trusted issuer registry', () => {
  it('answers from memory after one load, and shares a load between concurrent lookups', async () => {
    const store = controlledStore([issuer('https://a')]);
    const registry = createTrustedIssuerRegistry(store.options);
    const lookups = [registry.find('https://a'), registry.find('https://b')];
    await tick();
    assert.equal(store.loads(), 1);
    store.release();
    const [a, b] = await Promise.all(lookups);
    assert.equal(a?.issuer, 'https://a');
    assert.equal(b, undefined);
    await registry.find('https://a');
    assert.equal(store.loads(), 1, 'no further load');
  });

  it('never answers from a load that a change overtook: a change during a load triggers another, and lookups wait for it', async () => {
    const store = controlledStore([issuer('https://a')]);
    const registry = createTrustedIssuerRegistry(store.options);
    const listener = registry.listener();
    const warm = registry.warm();
    await tick();
    store.set([issuer('https://a', { disabled: true })]);
    listener.changed({ kind: 'issuers' });
    const lookup = registry.find('https://a');
    store.release(); // the load that started before the change
    await tick();
    assert.equal(store.loads(), 2, 'a second load followed');
    let answered = false;
    void lookup.then(() => (answered = true));
    await tick();
    assert.equal(answered, false, 'the lookup waits for the load that postdates the change');
    store.release();
    assert.equal((await lookup)?.disabled, true);
    await warm;
  });

  it('ignores changes of other kinds', async () => {
    const store = controlledStore([]);
    const registry = createTrustedIssuerRegistry(store.options);
    const first = registry.find('x');
    await tick();
    store.release();
    await first;
    registry.listener().changed({ kind: 'client', clientId: 'c' });
    registry.listener().changed({ kind: 'keys' });
    await registry.find('x');
    assert.equal(store.loads(), 1);
  });

  it('fails the lookups of a failed load (no stale answer), and loads again on the next lookup', async () => {
    const store = controlledStore([issuer('https://a')]);
    const errors: unknown[] = [];
    const registry = createTrustedIssuerRegistry({ ...store.options, onError: (e) => errors.push(e) });
    const first = registry.find('https://a');
    await tick();
    store.release();
    await first;
    store.failNext();
    registry.listener().changed({ kind: 'issuers' });
    const failing = registry.find('https://a');
    await tick();
    store.release();
    await assert.rejects(failing, StorageUnavailable);
    assert.equal(errors.length, 1, 'the failure was reported');
    const retry = registry.find('https://a');
    await tick();
    store.release();
    assert.equal((await retry)?.issuer, 'https://a');
  });

  it('reads the database on every lookup while the feed is down, and holds a fresh copy once it is back', async () => {
    const store = controlledStore([issuer('https://a')]);
    const registry = createTrustedIssuerRegistry(store.options);
    const listener = registry.listener();
    listener.reset(false);
    while (store.pending()) store.release();
    store.set([issuer('https://a', { disabled: true })]);
    assert.equal((await registry.find('https://a'))?.disabled, true);
    assert.equal(registry.stats().databaseLookups, 1);
    store.set([]);
    listener.reset(true);
    const lookup = registry.find('https://a');
    await tick();
    while (store.pending()) store.release();
    await tick();
    while (store.pending()) store.release();
    assert.equal(await lookup, undefined);
    assert.equal(registry.stats().databaseLookups, 1);
  });

  it('keeps the object of an unchanged record across reloads (its jose key set is not rebuilt) and replaces a changed one', async () => {
    const store = controlledStore([issuer('https://a'), issuer('https://b')]);
    const registry = createTrustedIssuerRegistry(store.options);
    const first = Promise.all([registry.find('https://a'), registry.find('https://b')]);
    await tick();
    store.release();
    const [a1, b1] = await first;
    store.set([issuer('https://a'), issuer('https://b', { audiences: ['changed'] })]);
    registry.listener().changed({ kind: 'issuers' });
    await tick();
    store.release();
    const [a2, b2] = await Promise.all([registry.find('https://a'), registry.find('https://b')]);
    assert.equal(a2, a1);
    assert.notEqual(b2, b1);
    assert.deepEqual(b2?.audiences, ['changed']);
  });

  it('refresh() (the safety net) replaces the map only when no change overtook it, and keeps it when the database fails', async () => {
    const store = controlledStore([issuer('https://a')]);
    const registry = createTrustedIssuerRegistry(store.options);
    const first = registry.find('https://a');
    await tick();
    store.release();
    await first;
    store.failNext();
    const failing = registry.refresh();
    await tick();
    store.release();
    await failing;
    assert.equal((await registry.find('https://a'))?.issuer, 'https://a', 'a failed refresh leaves lookups answered from memory');
    store.set([]);
    const refreshing = registry.refresh();
    await tick();
    store.release();
    await refreshing;
    assert.equal(await registry.find('https://a'), undefined, 'a lost notification is made up for');
  });
});
