import { createListenerSet, decodeChange, encodeChange, type Change, type ChangeFeed } from './change-feed.ts';

/** The message cluster workers and their primary exchange: one change, already encoded. */
export type ChangeMessage = { type: 'identity-backend:change'; change: string };

function isChangeMessage(message: unknown): message is ChangeMessage {
  return typeof message === 'object' && message !== null && (message as ChangeMessage).type === 'identity-backend:change'
    && typeof (message as ChangeMessage).change === 'string';
}

/** A cluster worker's link to its primary: relayed changes arrive on `channel`; `relay` sends one and resolves once the others have it. */
export type ClusterLink = { channel: Pick<NodeJS.Process, 'on' | 'off'>; relay(change: string): Promise<unknown> };

/**
 * One process (SQLite, no Redis): the instance that writes is the only one reading, so the feed is
 * a function call. As a cluster worker, changes also go to the primary over the IPC channel, which
 * relays them to every other worker (src/cluster/primary.ts) and answers once they are on their
 * channels: publish, and so the admin call that made the change, waits for that, so every worker
 * has it before the caller is answered. A lost IPC channel means a lost process, so there is no
 * reconnect to handle.
 */
export function createLocalChangeFeed(cluster?: ClusterLink): ChangeFeed {
  const listeners = createListenerSet();
  const onMessage = (message: unknown) => {
    if (!isChangeMessage(message)) return;
    const change = decodeChange(message.change);
    if (change) listeners.changed(change);
  };
  cluster?.channel.on('message', onMessage);
  return {
    name: cluster ? 'cluster-ipc' : 'in-process',
    live: true,
    async publish(changes: readonly Change[]) {
      for (const change of changes) listeners.changed(change);
      if (cluster) await Promise.all(changes.map((change) => cluster.relay(encodeChange(change))));
    },
    subscribe: (listener) => listeners.add(listener),
    async close() {
      cluster?.channel.off('message', onMessage);
    },
  };
}

