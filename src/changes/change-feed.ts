/**
 * What changed in the database, as far as in-memory views care: a client (its registration,
 * secrets or state), the signing-key set, the trusted issuers, or a revocation (RFC 7009): one token
 * by jti, or every token of a client issued before a time. Carries identifiers and times only, never
 * secrets or tokens. A revocation carries its whole content, so applying it needs no read; times are
 * epoch seconds.
 */
export type Change =
  | { kind: 'client'; clientId: string }
  | { kind: 'keys' }
  | { kind: 'issuers' }
  | { kind: 'token_revoked'; jti: string; expiresAt: number }
  | { kind: 'client_tokens_revoked'; clientId: string; issuedBefore: number; expiresAt: number };

export type ChangeListener = {
  changed(change: Change): void;
  /**
   * The feed lost its connection, or got it back: changes may have been missed, so every view
   * built from earlier reads must be dropped. `live` says whether notifications flow again.
   */
  reset(live: boolean): void;
};

/**
 * Carries committed changes to every instance of the deployment (and every worker of a process),
 * so in-memory views can drop what a change made stale. PostgreSQL LISTEN/NOTIFY, Redis pub/sub
 * or in-process (SQLite; between cluster workers over IPC). Delivery is at most once: a listener
 * that was disconnected gets reset() instead of the changes it missed.
 */
export interface ChangeFeed {
  readonly name: string;
  /** Whether changes made elsewhere are being received right now. */
  readonly live: boolean;
  publish(changes: readonly Change[]): Promise<void>;
  subscribe(listener: ChangeListener): void;
  close(): Promise<void>;
}

/**
 * Encoded for a channel that carries text: `c <id>`, `k`, `i`, `r <exp> <jti>` or `R <before> <exp> <id>`
 * (the id last: nothing after it needs a separator). Ids are at most 255 characters. An instance that
 * does not know a code (a rolling upgrade) ignores it.
 */
export function encodeChange(change: Change): string {
  switch (change.kind) {
    case 'client': return `c ${change.clientId}`;
    case 'keys': return 'k';
    case 'issuers': return 'i';
    case 'token_revoked': return `r ${change.expiresAt} ${change.jti}`;
    case 'client_tokens_revoked': return `R ${change.issuedBefore} ${change.expiresAt} ${change.clientId}`;
  }
}

const SECONDS = /^\d{1,12}$/;

export function decodeChange(text: string): Change | undefined {
  if (text === 'k') return { kind: 'keys' };
  if (text === 'i') return { kind: 'issuers' };
  if (text.startsWith('c ') && text.length > 2) return { kind: 'client', clientId: text.slice(2) };
  if (text.startsWith('r ')) {
    const [, exp, jti] = /^r (\S+) (\S+)$/.exec(text) ?? [];
    if (exp && jti && SECONDS.test(exp)) return { kind: 'token_revoked', jti, expiresAt: Number(exp) };
  }
  if (text.startsWith('R ')) {
    const [, before, exp, clientId] = /^R (\S+) (\S+) (.+)$/.exec(text) ?? [];
    if (before && exp && clientId && SECONDS.test(before) && SECONDS.test(exp)) {
      return { kind: 'client_tokens_revoked', clientId, issuedBefore: Number(before), expiresAt: Number(exp) };
    }
  }
  return undefined;
}

/** Fans one change out to the subscribed listeners; a throwing listener cannot stop the others. */
export function createListenerSet() {
  const listeners: ChangeListener[] = [];
  const set = {
    add: (listener: ChangeListener) => void listeners.push(listener),
    changed(change: Change) {
      for (const l of listeners) {
        try {
          l.changed(change);
        } catch {
          // A view that cannot apply a change is reset instead, so it cannot stay stale.
          l.reset(true);
        }
      }
    },
    reset(live: boolean) {
      for (const l of listeners) l.reset(live);
    },
  };
  return set;
}

/**
 * A feed that carries changes to other instances with `send`: this instance's listeners get each
 * change first, at once (the admin call that made it returns after this), then the others.
 */
export function remoteFeed(name: string, isLive: () => boolean, send: (text: string) => Promise<unknown>, close: () => Promise<void>) {
  const listeners = createListenerSet();
  const feed: ChangeFeed = {
    name,
    get live() {
      return isLive();
    },
    async publish(changes) {
      for (const change of changes) listeners.changed(change);
      for (const change of changes) await send(encodeChange(change));
    },
    subscribe: (listener) => listeners.add(listener),
    close,
  };
  return { feed, listeners };
}
