import type { Change, ChangeListener } from '../changes/change-feed.ts';
import type { ClientCredentialsRecord } from '../oauth/client-auth/client-auth-method.ts';

export type ClientDirectoryOptions = {
  /** Reads one client and its secrets from the database. */
  load(clientId: string): Promise<ClientCredentialsRecord | undefined>;
  /** Reads every client with its secrets, up to `limit` (to tell whether they all fit). */
  loadAll(limit: number): Promise<ClientCredentialsRecord[]>;
  /** Most clients kept; the least recently used leave first. */
  capacity: number;
  /** Most unknown ids remembered; kept apart so random ids cannot push known clients out. */
  negativeCapacity: number;
  /** Safety net only: changes arrive over the change feed well before this. */
  ttlMs: number;
  /** How long an unknown id is remembered as unknown. */
  negativeTtlMs: number;
  now?: () => number;
  onError?: (error: unknown) => void;
};

type Entry = { record: ClientCredentialsRecord; expiresAt: number };
type Pending = { promise: Promise<ClientCredentialsRecord | undefined>; stale: boolean };

/**
 * Clients as POST /token needs them (registration, secret hashes, keys), served from memory.
 *
 * When every client fits (`capacity`), the directory holds all of them and knows every id: an
 * unknown id is answered from memory too, so unknown and known ids cost the same (RL-03) and random
 * ids never reach the database. Beyond that it is an LRU with a bounded negative cache.
 *
 * Correctness before speed:
 * - a change committed on this instance reaches it before the admin call returns, and other
 *   instances over the change feed (listener()); a changed id is read from the database again;
 * - a read that was in flight when a change arrived is answered but never kept;
 * - while the feed is not live nothing is kept, every lookup reads the database;
 * - entries expire after ttlMs, in case a notification was lost in transit.
 */
export function createClientDirectory(opts: ClientDirectoryOptions) {
  const now = opts.now ?? Date.now;
  const known = new Map<string, Entry>();
  const unknown = new Map<string, number>();
  const pending = new Map<string, Pending>();
  /** Every client id in the database, when `complete`: absence from it is an authoritative "unknown". */
  let ids = new Set<string>();
  let complete = false;
  let caching = true;
  /** Ids changed while a full load ran: what the load read of them may predate the change. */
  let changedDuringLoad: Set<string> | undefined;
  /** Bumped by every flush, so a full load that overlapped one is dropped. */
  let epoch = 0;
  let loadingAll: Promise<void> | undefined;
  const stats = { hits: 0, misses: 0 };

  function remember(clientId: string, record: ClientCredentialsRecord | undefined): void {
    if (record) {
      if (!known.has(clientId) && known.size >= opts.capacity) {
        known.delete(known.keys().next().value!);
        // An evicted client leaves a hole in the set: "not held" no longer means "unknown".
        complete = false;
      }
      known.set(clientId, { record, expiresAt: now() + opts.ttlMs });
      if (complete) ids.add(clientId);
    } else if (complete) {
      ids.delete(clientId);
    } else {
      if (unknown.size >= opts.negativeCapacity) unknown.delete(unknown.keys().next().value!);
      unknown.set(clientId, now() + opts.negativeTtlMs);
    }
  }

  /** The answer memory can give: a record, a definite unknown, or nothing (read the database). */
  function fromMemory(clientId: string): { record: ClientCredentialsRecord | undefined } | undefined {
    const entry = known.get(clientId);
    if (entry) {
      if (entry.expiresAt > now()) {
        // Map order is the LRU order: a hit moves the entry to the young end.
        known.delete(clientId);
        known.set(clientId, entry);
        return { record: entry.record };
      }
      known.delete(clientId);
    }
    if (complete) return ids.has(clientId) ? undefined : { record: undefined };
    const until = unknown.get(clientId);
    if (until !== undefined) {
      if (until > now()) return { record: undefined };
      unknown.delete(clientId);
    }
    return undefined;
  }

  function invalidate(clientId: string): void {
    changedDuringLoad?.add(clientId);
    known.delete(clientId);
    unknown.delete(clientId);
    // Created, changed or deleted: only the database can say which, so the next lookup asks it.
    if (complete) ids.add(clientId);
    const inFlight = pending.get(clientId);
    if (inFlight) {
      inFlight.stale = true;
      pending.delete(clientId);
    }
  }

  function flush(): void {
    epoch += 1;
    known.clear();
    unknown.clear();
    ids = new Set();
    complete = false;
    for (const p of pending.values()) p.stale = true;
    pending.clear();
  }

  /**
   * Loads every client when they all fit. A client changed while the load ran is known to exist
   * (or to have existed) but not kept: its next lookup reads it again. A flush meanwhile drops the load.
   */
  function loadAll(): Promise<void> {
    loadingAll ??= (async () => {
      const started = epoch;
      const changed = new Set<string>();
      changedDuringLoad = changed;
      const records = await opts.loadAll(opts.capacity + 1);
      if (!caching || started !== epoch || records.length > opts.capacity) return;
      const t = now();
      known.clear();
      unknown.clear();
      for (const record of records) {
        if (!changed.has(record.client.clientId)) known.set(record.client.clientId, { record, expiresAt: t + opts.ttlMs });
      }
      ids = new Set([...known.keys(), ...changed]);
      complete = true;
    })().catch((error: unknown) => opts.onError?.(error)).finally(() => {
      changedDuringLoad = undefined;
      loadingAll = undefined;
    });
    return loadingAll;
  }

  return {
    find(clientId: string): Promise<ClientCredentialsRecord | undefined> {
      const hit = caching ? fromMemory(clientId) : undefined;
      if (hit) {
        stats.hits += 1;
        return Promise.resolve(hit.record);
      }
      stats.misses += 1;
      const inFlight = pending.get(clientId);
      if (inFlight) return inFlight.promise;
      const entry: Pending = { promise: undefined as never, stale: !caching };
      entry.promise = opts.load(clientId).then(
        (record) => {
          if (pending.get(clientId) === entry) pending.delete(clientId);
          if (!entry.stale && caching) remember(clientId, record);
          return record;
        },
        (error: unknown) => {
          if (pending.get(clientId) === entry) pending.delete(clientId);
          throw error;
        },
      );
      pending.set(clientId, entry);
      return entry.promise;
    },

    /** Fills the directory with every client, when they fit (start-up, after a feed reset, each ttlMs). */
    warm: loadAll,
    invalidate,
    flush,

    /** Subscribes the directory to a change feed. */
    listener(): ChangeListener {
      return {
        changed: (change: Change) => {
          if (change.kind === 'client') invalidate(change.clientId);
        },
        reset: (live: boolean) => {
          flush();
          caching = live;
          if (live) void loadAll();
        },
      };
    },

    /** Sizes and counters, for metrics and tests. */
    stats: () => ({ ...stats, known: known.size, unknown: unknown.size, complete, caching }),
  };
}

export type ClientDirectory = ReturnType<typeof createClientDirectory>;
