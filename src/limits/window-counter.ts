/**
 * Fixed-window counters: the rate limits (per address, per authenticated client) and the
 * failure lockout count with these. In this process, in Redis when instances share REDIS_URL, or
 * in the cluster primary when workers of one process must share them (cluster/ipc-counter.ts).
 */
export interface WindowCounterStore {
  /** Counts one hit on `key`; the window starts with the first hit and lasts windowMs. */
  hit(key: string, windowMs: number): Promise<WindowCount>;
  /** Takes one hit back (express-rate-limit's skip of a request after the fact). */
  undo(key: string): Promise<void>;
  reset(key: string): Promise<void>;
}

export type WindowCount = { count: number; resetInMs: number };

/** Bounds memory under a spraying attack; the oldest windows are dropped first. */
const MAX_TRACKED_KEYS = 100_000;

export function createMemoryWindowCounter(now: () => number = Date.now, maxKeys = MAX_TRACKED_KEYS): WindowCounterStore {
  const windows = new Map<string, { count: number; resetAt: number }>();
  return {
    async hit(key, windowMs) {
      const t = now();
      let entry = windows.get(key);
      if (!entry || entry.resetAt <= t) {
        if (entry) windows.delete(key);
        else if (windows.size >= maxKeys) windows.delete(windows.keys().next().value!);
        entry = { count: 0, resetAt: t + windowMs };
        windows.set(key, entry);
      }
      entry.count += 1;
      return { count: entry.count, resetInMs: entry.resetAt - t };
    },
    async undo(key) {
      const entry = windows.get(key);
      if (entry && entry.count > 0) entry.count -= 1;
    },
    async reset(key) {
      windows.delete(key);
    },
  };
}
