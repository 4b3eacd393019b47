import type { Clock } from '../shared/clock.ts';
import type { ReplayCache } from './replay-cache.ts';

/** Bounds memory under a flood of distinct values; the oldest entries go first. */
const MAX_ENTRIES = 200_000;

/**
 * Single-use values remembered by this process only: the replay cache while Redis cannot be
 * reached (redis-fallback.ts). It catches a replay to this instance, not to another one.
 */
export function createMemoryReplayCache(clock: Clock, maxEntries = MAX_ENTRIES): ReplayCache & { has(key: string): boolean; readonly size: number } {
  const entries = new Map<string, number>();
  const live = (key: string, now: number) => {
    const expiry = entries.get(key);
    if (expiry === undefined) return false;
    if (expiry > now) return true;
    entries.delete(key);
    return false;
  };
  return {
    get size() { return entries.size; },
    has: (key) => entries.size > 0 && live(key, clock.now().getTime()),
    async useOnce(key, expiresAt) {
      const now = clock.now().getTime();
      if (live(key, now)) return false;
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
      entries.set(key, expiresAt.getTime());
      return true;
    },
  };
}
