/**
 * Remembers DPoP proof ids until their acceptance window has passed. The in-memory store serves one
 * process; several instances behind one load balancer need a shared store (Redis SET NX PX fits).
 */
export interface ReplayStore {
  /** True the first time `key` is seen before `expiresAt` (epoch ms); false for a replay. */
  useOnce(key: string, expiresAt: number): boolean | Promise<boolean>;
}

/**
 * An in-process ReplayStore. Expired entries are dropped as it fills; when `maxEntries` unexpired
 * proofs are held it refuses new ones rather than forget old ones (forgetting would allow replays).
 */
export function createMemoryReplayStore(options: { maxEntries?: number; now?: () => number } = {}): ReplayStore {
  const maxEntries = options.maxEntries ?? 100_000;
  const now = options.now ?? Date.now;
  const seen = new Map<string, number>();
  function prune(at: number) {
    for (const [key, expiresAt] of seen) if (expiresAt <= at) seen.delete(key);
  }
  return {
    useOnce(key, expiresAt) {
      const at = now();
      const held = seen.get(key);
      if (held !== undefined && held > at) return false;
      if (seen.size >= maxEntries) prune(at);
      if (seen.size >= maxEntries) return false;
      seen.set(key, expiresAt);
      return true;
    },
  };
}
