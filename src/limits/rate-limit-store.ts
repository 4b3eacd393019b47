import type { ClientRateLimitInfo, Options, Store } from 'express-rate-limit';
import type { WindowCounterStore } from './window-counter.ts';

/**
 * express-rate-limit's Store over a window counter, so the per-address limits count where every
 * other counter of the deployment counts (this process, the cluster primary, or Redis).
 */
export function rateLimitStore(counter: WindowCounterStore, prefix: string): Store {
  let windowMs = 60_000;
  return {
    prefix,
    localKeys: false,
    init(options: Options) {
      windowMs = options.windowMs;
    },
    async increment(key: string): Promise<ClientRateLimitInfo> {
      const { count, resetInMs } = await counter.hit(`${prefix}${key}`, windowMs);
      return { totalHits: count, resetTime: new Date(Date.now() + resetInMs) };
    },
    decrement: (key: string) => counter.undo(`${prefix}${key}`),
    resetKey: (key: string) => counter.reset(`${prefix}${key}`),
  };
}
