import pg from 'pg';
import type { Logger } from '../shared/logger.ts';
import { remoteFeed, type ChangeFeed } from './change-feed.ts';

const CHANNEL = 'identity_backend_changes';
/** How often the listening connection proves it is alive: a connection that died silently delivers nothing. */
const HEARTBEAT_MS = 5_000;
const HEARTBEAT_TIMEOUT_MS = 3_000;
const MAX_RECONNECT_DELAY_MS = 5_000;

export type PostgresChangeFeedOptions = {
  connectionString: string;
  /** DATABASE_CONNECT_TIMEOUT. */
  connectTimeoutMs?: number;
  /** Sends NOTIFY; the service's own pool, so publishing needs no extra connection. */
  notify: (channel: string, payload: string) => Promise<void>;
  logger: Logger;
};

/**
 * PostgreSQL LISTEN/NOTIFY on one dedicated connection. While it is down the feed is not live and
 * listeners are reset (they stop trusting what they hold); on reconnect they are reset again, since
 * notifications sent meanwhile were lost.
 */
export async function createPostgresChangeFeed(opts: PostgresChangeFeedOptions): Promise<ChangeFeed> {
  let client: pg.Client | undefined;
  let live = false;
  let closed = false;
  let attempt = 0;
  let heartbeat: NodeJS.Timeout | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  const { feed, listeners, received } = remoteFeed('postgresql', () => live, (text) => opts.notify(CHANNEL, text), async () => {
    closed = true;
    clearTimeout(reconnectTimer);
    clearInterval(heartbeat);
    const c = client;
    client = undefined;
    if (c) {
      c.removeAllListeners();
      c.on('error', () => undefined);
      await c.end().catch(() => undefined);
    }
  });

  function setLive(next: boolean): void {
    if (live === next) return;
    live = next;
    if (!next) opts.logger.warn('change feed (PostgreSQL LISTEN) lost; client lookups read the database until it is back');
    else if (attempt > 0) opts.logger.info('change feed (PostgreSQL LISTEN) restored');
    listeners.reset(next);
  }

  function scheduleReconnect(): void {
    if (closed || reconnectTimer) return;
    const delay = Math.min(MAX_RECONNECT_DELAY_MS, 100 * 2 ** Math.min(attempt, 6));
    attempt += 1;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      void connect();
    }, delay);
    reconnectTimer.unref();
  }

  function drop(c: pg.Client): void {
    if (client !== c) return;
    client = undefined;
    clearInterval(heartbeat);
    setLive(false);
    c.removeAllListeners('notification');
    c.end().catch(() => undefined);
    scheduleReconnect();
  }

  async function connect(): Promise<void> {
    const c = new pg.Client({ connectionString: opts.connectionString, connectionTimeoutMillis: opts.connectTimeoutMs ?? 3_000, keepAlive: true, keepAliveInitialDelayMillis: 10_000, query_timeout: HEARTBEAT_TIMEOUT_MS * 2 });
    c.on('error', () => drop(c));
    c.on('end', () => drop(c));
    c.on('notification', (message) => {
      if (message.channel === CHANNEL && message.payload) received(message.payload);
    });
    try {
      client = c;
      await c.connect();
      await c.query(`LISTEN ${CHANNEL}`);
    } catch {
      drop(c);
      return;
    }
    if (closed) {
      await c.end().catch(() => undefined);
      return;
    }
    heartbeat = setInterval(() => {
      const timer = setTimeout(() => drop(c), HEARTBEAT_TIMEOUT_MS);
      c.query('SELECT 1').then(() => clearTimeout(timer), () => {
        clearTimeout(timer);
        drop(c);
      });
    }, HEARTBEAT_MS);
    heartbeat.unref();
    setLive(true);
    attempt = 0;
  }

  await connect();
  return feed;
}
