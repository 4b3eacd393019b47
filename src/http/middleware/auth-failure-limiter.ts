/**
 * Counts failed client authentications per (client id, source address) in a fixed window and
 * locks the pair once the limit is reached (RFC 6749 §2.3.1: protect against brute force). Keyed
 * by the pair, an attacker at one address cannot lock a client out of its other addresses.
 * Successful requests are not counted, so a busy client is never slowed by its own traffic.
 */
export type AuthFailureLimiter = {
  /** Seconds until the pair may try again, or undefined when it is not locked. */
  lockedFor(clientId: string, address: string): number | undefined;
  recordFailure(clientId: string, address: string): void;
};

const WINDOW_MS = 60_000;
/** Bounds memory under a spraying attack; the oldest windows are dropped first. */
const MAX_TRACKED_PAIRS = 100_000;

export function createAuthFailureLimiter(limit: number, now: () => number = Date.now): AuthFailureLimiter {
  const windows = new Map<string, { count: number; resetAt: number }>();
  const key = (clientId: string, address: string) => `${address} ${clientId}`;

  function live(k: string) {
    const entry = windows.get(k);
    if (entry && entry.resetAt <= now()) {
      windows.delete(k);
      return undefined;
    }
    return entry;
  }

  return {
    lockedFor(clientId, address) {
      if (limit === 0) return undefined;
      const entry = live(key(clientId, address));
      return entry && entry.count >= limit ? Math.max(1, Math.ceil((entry.resetAt - now()) / 1000)) : undefined;
    },
    recordFailure(clientId, address) {
      if (limit === 0) return;
      const k = key(clientId, address);
      const entry = live(k);
      if (entry) {
        entry.count += 1;
        return;
      }
      if (windows.size >= MAX_TRACKED_PAIRS) windows.delete(windows.keys().next().value!);
      windows.set(k, { count: 1, resetAt: now() + WINDOW_MS });
    },
  };
}
