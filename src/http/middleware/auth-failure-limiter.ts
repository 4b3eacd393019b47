/**
 * Counts failed client authentications per (client id, source address) in a fixed window and
 * locks the pair once the limit is reached (RFC 6749 §2.3.1: protect against brute force). Keyed
 * by the pair, an attacker at one address cannot lock a client out of its other addresses.
 * Successful requests are not counted, so a busy client is never slowed by its own traffic.
 */
export type AuthFailureLimiter = {
  /** Seconds until the pair may try again, or undefined when it is not locked. */
  lockedFor(clientId: string, address: string): Promise<number | undefined>;
  recordFailure(clientId: string, address: string): Promise<void>;
};

/** Where the counters live: this process, or Redis when instances must share them. */
export type FailureCounterStore = {
  /** The count and the milliseconds left in the pair's window (undefined when there is none). */
  get(key: string): Promise<{ count: number; ttlMs: number } | undefined>;
  increment(key: string, windowMs: number): Promise<void>;
};

export const FAILURE_WINDOW_MS = 60_000;
/** Bounds memory under a spraying attack; the oldest windows are dropped first. */
const MAX_TRACKED_PAIRS = 100_000;

export function createMemoryFailureStore(now: () => number = Date.now): FailureCounterStore {
  const windows = new Map<string, { count: number; resetAt: number }>();
  function live(key: string) {
    const entry = windows.get(key);
    if (entry && entry.resetAt <= now()) {
      windows.delete(key);
      return undefined;
    }
    return entry;
  }
  return {
    async get(key) {
      const entry = live(key);
      return entry && { count: entry.count, ttlMs: entry.resetAt - now() };
    },
    async increment(key, windowMs) {
      const entry = live(key);
      if (entry) {
        entry.count += 1;
        return;
      }
      if (windows.size >= MAX_TRACKED_PAIRS) windows.delete(windows.keys().next().value!);
      windows.set(key, { count: 1, resetAt: now() + windowMs });
    },
  };
}

export function createAuthFailureLimiter(limit: number, store: FailureCounterStore = createMemoryFailureStore()): AuthFailureLimiter {
  const key = (clientId: string, address: string) => `${address} ${clientId}`;
  return {
    async lockedFor(clientId, address) {
      if (limit === 0) return undefined;
      const entry = await store.get(key(clientId, address));
      return entry && entry.count >= limit ? Math.max(1, Math.ceil(entry.ttlMs / 1000)) : undefined;
    },
    async recordFailure(clientId, address) {
      if (limit === 0) return;
      await store.increment(key(clientId, address), FAILURE_WINDOW_MS);
    },
  };
}
