import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';

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
  /** A feed between instances probes its own delivery (FeedProbe below); in-process feeds have nothing to measure. */
  readonly probe?: FeedProbe;
}

/**
 * What a feed between instances knows of its own delivery: every few seconds it publishes a probe
 * and times how long the probe takes to come back to it over the feed, which is about as long as a
 * change takes to reach the other instances. Measured on this process's own monotonic clock, so the
 * clocks of the hosts do not enter it.
 */
export interface FeedProbe {
  /** Called with each probe's round trip, in seconds. */
  onEcho(listener: (seconds: number) => void): void;
  /** Seconds since a probe last came back; undefined until the first one. It grows when the feed delivers nothing, live or not. */
  secondsSinceEcho(): number | undefined;
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

/** How often a feed between instances sends a probe of its own delivery. */
export const PROBE_INTERVAL_MS = 5_000;
/** A probe that has not come back by then is forgotten (the age of the last echo shows the loss). */
const PROBE_FORGET_MS = 60_000;
const PROBE = /^p (\S+) (\d{1,15})$/;

/**
 * A feed that carries changes to other instances with `send`: this instance's listeners get each
 * change first, at once (the admin call that made it returns after this), then the others. The
 * feed passes what arrives to `received`, which also answers the feed's probes: `p <instance> <n>`,
 * a code instances of earlier versions ignore, so a rolling deploy can mix them.
 */
export function remoteFeed(name: string, isLive: () => boolean, send: (text: string) => Promise<unknown>, close: () => Promise<void>, probeMs = PROBE_INTERVAL_MS) {
  const set = createListenerSet();
  const instance = randomBytes(9).toString('base64url');
  const pending = new Map<number, number>();
  const echoListeners: Array<(seconds: number) => void> = [];
  let sequence = 0;
  let lastEcho: number | undefined;

  function sendProbe(): void {
    if (!isLive()) return;
    const now = performance.now();
    for (const [n, sentAt] of pending) if (now - sentAt > PROBE_FORGET_MS) pending.delete(n);
    sequence += 1;
    pending.set(sequence, now);
    send(`p ${instance} ${sequence}`).catch(() => undefined); // a failed send is a probe that never comes back
  }
  const timer = setInterval(sendProbe, probeMs);
  timer.unref();

  // Back on line: probe at once, so the first figure does not wait for the interval.
  const listeners = { ...set, reset(live: boolean) { set.reset(live); if (live) sendProbe(); } };
  const feed: ChangeFeed = {
    name,
    get live() {
      return isLive();
    },
    async publish(changes) {
      for (const change of changes) set.changed(change);
      for (const change of changes) await send(encodeChange(change));
    },
    subscribe: (listener) => set.add(listener),
    async close() {
      clearInterval(timer);
      await close();
    },
    probe: {
      onEcho: (listener) => void echoListeners.push(listener),
      secondsSinceEcho: () => (lastEcho === undefined ? undefined : (performance.now() - lastEcho) / 1000),
    },
  };

  function received(text: string): void {
    const probe = PROBE.exec(text);
    if (!probe) {
      const change = decodeChange(text);
      if (change) set.changed(change);
      return;
    }
    // Other instances' probes are theirs to time.
    const sentAt = probe[1] === instance ? pending.get(Number(probe[2])) : undefined;
    if (sentAt === undefined) return;
    pending.delete(Number(probe[2]));
    lastEcho = performance.now();
    for (const l of echoListeners) l((lastEcho - sentAt) / 1000);
  }
  return { feed, listeners, received };
}
