import type { WindowCounterStore } from './window-counter.ts';

export const LIMIT_WINDOW_MS = 60_000;

export type ClientLimits = {
  /**
   * Counts one authenticated issuance for the client; the seconds to wait when it is over its
   * limit. Only requests that proved they are the client count, so nobody else can spend its budget.
   */
  issued(clientId: string): Promise<number | undefined>;
  /**
   * Counts one failed secret presentation for (client id, address); the seconds to wait once the
   * pair is over the limit. Only secret methods count: an assertion or certificate cannot be
   * guessed, so their failures cannot lock anybody out. A locked pair is still verified, and the
   * right secret still succeeds (see README "Rate limits and lockout").
   */
  secretFailed(clientId: string, address: string): Promise<number | undefined>;
};

export function createClientLimits(opts: { counter: WindowCounterStore; issuedPerClient: number; secretFailuresPerPair: number }): ClientLimits {
  const { counter } = opts;
  async function over(key: string, limit: number): Promise<number | undefined> {
    if (limit === 0) return undefined;
    const { count, resetInMs } = await counter.hit(key, LIMIT_WINDOW_MS);
    return count > limit ? Math.max(1, Math.ceil(resetInMs / 1000)) : undefined;
  }
  return {
    issued: (clientId) => over(`issued ${clientId}`, opts.issuedPerClient),
    secretFailed: (clientId, address) => over(`secret-failed ${address} ${clientId}`, opts.secretFailuresPerPair),
  };
}
