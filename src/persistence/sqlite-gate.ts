import { AsyncLocalStorage } from 'node:async_hooks';
import { StorageUnavailable } from '../shared/errors.ts';

/**
 * SQLite through better-sqlite3 is one connection. An interactive transaction stays open across
 * awaits, and any other query issued meanwhile would run inside it (and roll back with it). The
 * gate runs one unit of work at a time; work already holding the gate (the queries of an open
 * transaction) passes straight through. PostgreSQL has a pool and needs no gate.
 */
export type Gate = { run<T>(work: () => Promise<T>): Promise<T> };

export const openGate: Gate = { run: (work) => work() };

/** SQLITE_BUSY / SQLITE_LOCKED anywhere in the cause chain: better-sqlite3's code, or Prisma's driver-adapter meta. */
export function isSqliteLockError(error: unknown): boolean {
  for (let e = error as { code?: unknown; meta?: { driverAdapterError?: { cause?: { originalCode?: unknown } } }; cause?: unknown } | undefined, depth = 0;
    e && depth < 5; e = e.cause as typeof e, depth++) {
    for (const code of [String(e.code ?? ''), String(e.meta?.driverAdapterError?.cause?.originalCode ?? '')]) {
      if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return true;
    }
  }
  return false;
}

/**
 * Another process holding the file's write lock: SQLite's own busy handler would sleep on the
 * event loop for the whole wait (freezing /healthz and every other request). The connection's
 * busy_timeout is a few milliseconds (SQLITE_BUSY_ATTEMPT_MS); the gate tries the unit of work
 * again after an asynchronous pause, until lockWaitMs after the unit was handed to the gate. A unit
 * of work is one statement or one transaction, which SQLite rolled back when it reported the lock,
 * so running it again is safe. A unit that has already waited its bound in the queue behind a lock
 * fails without another attempt, so a queue of them cannot add up their attempts on the event loop.
 */
export function createSerialGate(options: { lockWaitMs?: number } = {}): Gate {
  const holding = new AsyncLocalStorage<true>();
  let tail: Promise<unknown> = Promise.resolve();
  const lockWaitMs = options.lockWaitMs ?? 0;
  let lockedAt = -Infinity;

  async function attempt<T>(work: () => Promise<T>, submitted: number): Promise<T> {
    const deadline = submitted + lockWaitMs;
    if (Date.now() > deadline && lockedAt > submitted) {
      throw new StorageUnavailable('the database is locked by another process', { cause: Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }) });
    }
    for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
      try {
        return await work();
      } catch (error) {
        if (!isSqliteLockError(error)) throw error;
        lockedAt = Date.now();
        if (lockedAt + pause > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
  }

  return {
    run(work) {
      if (holding.getStore()) return work();
      const submitted = Date.now();
      const result = tail.then(() => holding.run(true, () => (lockWaitMs > 0 ? attempt(work, submitted) : work())));
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
