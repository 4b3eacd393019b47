import { createListenerSet, decodeChange, encodeChange, type Change, type ChangeFeed } from './change-feed.ts';

/** The message cluster workers and their primary exchange: one change, already encoded. */
export type ChangeMessage = { type: 'identity-backend:change'; change: string };

function isChangeMessage(message: unknown): message is ChangeMessage {
  return typeof message === 'object' && message !== null && (message as ChangeMessage).type === 'identity-backend:change'
    && typeof (message as ChangeMessage).change === 'string';
}

/**
 * One process (SQLite, no Redis): the instance that writes is the only one reading, so the feed is
 * a function call. As a cluster worker, changes also go to the primary over the IPC channel, which
 * relays them to every other worker (src/cluster/primary.ts); a lost IPC channel means a lost
 * process, so there is no reconnect to handle.
 */
export function createLocalChangeFeed(ipc?: Pick<NodeJS.Process, 'send' | 'on' | 'off'>): ChangeFeed {
  const listeners = createListenerSet();
  const onMessage = (message: unknown) => {
    if (!isChangeMessage(message)) return;
    const change = decodeChange(message.change);
    if (change) listeners.changed(change);
  };
  ipc?.on('message', onMessage);
  return {
    name: ipc ? 'cluster-ipc' : 'in-process',
    live: true,
    async publish(changes: readonly Change[]) {
      for (const change of changes) {
        listeners.changed(change);
        ipc?.send?.({ type: 'identity-backend:change', change: encodeChange(change) } satisfies ChangeMessage);
      }
    },
    subscribe: (listener) => listeners.add(listener),
    async close() {
      ipc?.off('message', onMessage);
    },
  };
}

export { isChangeMessage };
