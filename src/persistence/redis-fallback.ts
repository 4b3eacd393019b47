import type { WindowCounterStore } from '../limits/window-counter.ts';
import type { Clock } from '../shared/clock.ts';
import { createMemoryReplayCache } from '../tokens/memory-replay-cache.ts';
import type { ReplayCache } from '../tokens/replay-cache.ts';
import type { DependencyHealth } from './dependency-health.ts';
import type { RedisConnection } from './redis-connection.ts';

/** While Redis is marked down, one PING at most this often decides whether it is back. */
const PROBE_EVERY_MS = 1000;

/**
 * Redis is optional for issuance: while it is down, refusing, or silent, each call is answered by
 * this process's own state instead, so tokens are still issued (each still with its audit row, in
 * the database). What weakens, for the duration only: a replayed assertion or DPoP proof is caught
 * when it comes back to the same instance, not to another one; rate limits and the secret lockout
 * count per instance (per cluster primary), not across the deployment. The first failure marks
 * Redis down (one log line, identity_dependency_up{dependency="redis"} 0,
 * identity_degraded_guarantees); calls then go straight to the fallback, without waiting for
 * a timeout each, until a background PING answers.
 */
export function createRedisGuard(redis: RedisConnection, health: DependencyHealth, commandMs: number) {
  let probing = false;
  let lastProbe = 0;
  function probe(): void {
    const now = Date.now();
    if (probing || now - lastProbe < PROBE_EVERY_MS) return;
    probing = true;
    lastProbe = now;
    within(redis.ping()).then(() => health.succeeded(), (error: unknown) => health.failed(error)).finally(() => { probing = false; });
  }
  function within<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      work,
      new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(Object.assign(new Error('Redis command timed out'), { name: 'TimeoutError' })), commandMs); }),
    ]).finally(() => clearTimeout(timer));
  }
  /** False while Redis is marked down (a probe is then on its way); marks it down when its connection is gone. */
  function usable(): boolean {
    if (health.up && !redis.isReady) health.failed(Object.assign(new Error('Redis connection lost'), { code: 'ECONNRESET' }));
    if (health.up) return true;
    probe();
    return false;
  }
  return {
    health,
    /** For /readyz: whether Redis is usable now (probing it again when it was down). */
    check: () => usable(),
    async run<T>(work: () => Promise<T>, fallback: () => Promise<T>): Promise<T> {
      if (!usable()) return fallback();
      try {
        const result = await within(work());
        return result;
      } catch (error) {
        health.failed(error);
        return fallback();
      }
    },
  };
}

export type RedisGuard = ReturnType<typeof createRedisGuard>;

/**
 * The Redis replay cache, answered in memory while Redis is down. Values first used during an
 * outage stay in memory until they expire, and are checked first once Redis is back, so a value used
 * while Redis was away cannot be used again here after it returns.
 */
export function withReplayFallback(guard: RedisGuard, shared: ReplayCache, clock: Clock): ReplayCache {
  const local = createMemoryReplayCache(clock);
  return {
    async useOnce(key, expiresAt) {
      if (local.has(key)) return false;
      return guard.run(() => shared.useOnce(key, expiresAt), () => local.useOnce(key, expiresAt));
    },
  };
}

/** Redis window counters, counted by `local` (this process, or the cluster primary) while Redis is down. */
export function withCounterFallback(guard: RedisGuard, shared: WindowCounterStore, local: WindowCounterStore): WindowCounterStore {
  return {
    hit: (key, windowMs) => guard.run(() => shared.hit(key, windowMs), () => local.hit(key, windowMs)),
    undo: (key) => guard.run(() => shared.undo(key), () => local.undo(key)),
    reset: (key) => guard.run(() => shared.reset(key), () => local.reset(key)),
  };
}
