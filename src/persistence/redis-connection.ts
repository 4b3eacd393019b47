import { createClient } from '@redis/client';
import type { Logger } from '../shared/logger.ts';
import type { DependencyHealth } from './dependency-health.ts';

export type RedisBounds = { connectMs: number; commandMs: number };
export const DEFAULT_REDIS_BOUNDS: RedisBounds = { connectMs: 2000, commandMs: 500 };
/** Reconnect attempts back off to at most this pause, so a Redis that comes back is used within a second. */
const MAX_RECONNECT_DELAY_MS = 1000;

function buildClient(url: string, bounds: RedisBounds, name?: string) {
  return createClient({
    url,
    // CLIENT LIST shows whose connection it is (REDIS_KEY_PREFIX tells deployments apart).
    ...(name && { name }),
    disableOfflineQueue: true,
    // Every command, the subscriber's too, gives up after REDIS_COMMAND_TIMEOUT: a paused Redis
    // (SIGSTOP, CLIENT PAUSE) keeps its sockets open and would otherwise hold each caller forever.
    commandOptions: { timeout: bounds.commandMs },
    socket: { connectTimeout: bounds.connectMs, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 5), MAX_RECONNECT_DELAY_MS) },
  });
}

export type RedisConnection = ReturnType<typeof buildClient>;

/** redis://user:secret@host:6379/0 → "Redis at host:6379", without credentials. */
export function describeRedis(url: string): string {
  try {
    const u = new URL(url);
    return `Redis at ${u.hostname}${u.port ? `:${u.port}` : ''}`;
  } catch {
    return 'Redis';
  }
}

/**
 * Opens a client and waits for it to be ready, at most connectMs: the client's own connect()
 * retries forever, so a Redis that refuses or never answers at start-up would hold start-up with it.
 * Past the bound the client is destroyed and the error names Redis and what it did.
 */
export async function connectWithin<C extends { connect(): Promise<unknown>; destroy(): void; on(event: 'error', l: (e: unknown) => void): unknown }>(
  client: C, url: string, connectMs: number,
): Promise<C> {
  let lastError: unknown;
  client.on('error', (error: unknown) => { lastError = error; });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), connectMs);
  });
  try {
    await Promise.race([client.connect(), timedOut]);
    return client;
  } catch {
    try { client.destroy(); } catch { /* never opened */ }
    const code = (lastError as { code?: string } | undefined)?.code;
    const what = code === 'ECONNREFUSED' ? 'refused the connection' : `did not answer within ${connectMs / 1000} s`;
    throw new Error(`${describeRedis(url)} ${what} (REDIS_URL, REDIS_CONNECT_TIMEOUT)`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One Redis connection per process (REDIS_URL), for state every instance should share: replay
 * caches and rate-limit counters. Every command is bounded; while Redis is down or silent the
 * callers fall back to this process's own state (redis-fallback.ts). Connection errors feed the
 * dependency's health, which logs once per transition instead of once per reconnect attempt.
 */
export async function connectRedis(
  url: string, logger: Logger, bounds: RedisBounds = DEFAULT_REDIS_BOUNDS, health?: DependencyHealth, name?: string,
): Promise<RedisConnection> {
  const client = buildClient(url, bounds, name);
  await connectWithin(client, url, bounds.connectMs);
  client.on('error', (error: unknown) => (health ? health.failed(error) : logger.warn({ err: error }, 'redis connection error')));
  return client;
}
