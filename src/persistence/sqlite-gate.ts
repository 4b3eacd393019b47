import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * SQLite through better-sqlite3 is one connection. An interactive transaction stays open across
 * awaits, and any other query issued meanwhile would run inside it (and roll back with it). The
 * gate runs one unit of work at a time; work already holding the gate (the queries of an open
 * transaction) passes straight through. PostgreSQL has a pool and needs no gate.
 */
export type Gate = { run<T>(work: () => Promise<T>): Promise<T> };

export const openGate: Gate = { run: (work) => work() };

export function createSerialGate(): Gate {
  const holding = new AsyncLocalStorage<true>();
  let tail: Promise<unknown> = Promise.resolve();
  return {
    run(work) {
      if (holding.getStore()) return work();
      const result = tail.then(() => holding.run(true, work));
      tail = result.catch(() => undefined);
      return result;
    },
  };
}

/** The same object, with every method run through the gate. */
export function gated<T extends object>(target: T, gate: Gate): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => gate.run(() => value.apply(obj, args));
    },
  });
}
