import { StorageUnavailable } from '../shared/errors.ts';
import type { WindowCounterStore } from '../limits/window-counter.ts';

/**
 * What workers ask their primary (cluster mode): the shared window counters, the aggregated
 * metrics and the relay of a change. Requests carry keys, numbers and encoded changes (identifiers
 * and times) only, never a secret.
 */
export type PrimaryRequest =
  | { type: 'identity-backend:request'; id: number; op: 'counter.hit'; key: string; windowMs: number }
  | { type: 'identity-backend:request'; id: number; op: 'counter.undo' | 'counter.reset'; key: string }
  | { type: 'identity-backend:request'; id: number; op: 'metrics' }
  /** A committed change for every other worker; answered once it is on their channels (local-change-feed.ts). */
  | { type: 'identity-backend:request'; id: number; op: 'change.relay'; change: string };

export type PrimaryReply = { type: 'identity-backend:reply'; id: number; result?: unknown; error?: string };

type Channel = Pick<NodeJS.Process, 'on'> & { send?: NodeJS.Process['send'] };

/** A worker's side of the channel: one request, one reply, within a bound (a lost primary is a lost process). */
export function createPrimaryClient(channel: Channel = process, timeoutMs = 2_000) {
  let next = 0;
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void; timer: NodeJS.Timeout }>();
  channel.on('message', (message: unknown) => {
    const reply = message as PrimaryReply;
    if (reply?.type !== 'identity-backend:reply') return;
    const entry = waiting.get(reply.id);
    if (!entry) return;
    waiting.delete(reply.id);
    clearTimeout(entry.timer);
    if (reply.error !== undefined) entry.reject(new StorageUnavailable(`the cluster primary could not answer: ${reply.error}`));
    else entry.resolve(reply.result);
  });
  return function ask<T>(request: Omit<Extract<PrimaryRequest, { op: PrimaryRequest['op'] }>, 'type' | 'id'> & Record<string, unknown>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = ++next;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new StorageUnavailable('the cluster primary did not answer in time'));
      }, timeoutMs);
      timer.unref();
      waiting.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      channel.send!({ type: 'identity-backend:request', id, ...request });
    });
  };
}

export type PrimaryClient = ReturnType<typeof createPrimaryClient>;

/** The window counters of every worker, kept in the primary: one count per key for the whole process. */
export function createIpcWindowCounter(ask: PrimaryClient): WindowCounterStore {
  return {
    hit: (key, windowMs) => ask({ op: 'counter.hit', key, windowMs }),
    undo: (key) => ask({ op: 'counter.undo', key }),
    reset: (key) => ask({ op: 'counter.reset', key }),
  };
}
