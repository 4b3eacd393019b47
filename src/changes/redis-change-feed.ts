import { connectWithin, type RedisConnection } from '../persistence/redis-connection.ts';
import type { Logger } from '../shared/logger.ts';
import { remoteFeed, type ChangeFeed } from './change-feed.ts';

/**
 * Redis pub/sub on a duplicate of the service's connection (a subscribed connection can do
 * nothing else). Its reconnects are Redis's own; each one resets the listeners, since messages
 * published while it was away are gone.
 */
export async function createRedisChangeFeed(
  redis: RedisConnection,
  logger: Logger,
  bound: { url: string; connectMs: number },
  /** REDIS_KEY_PREFIX: the channel is `<prefix>changes`. */
  keyPrefix: string,
): Promise<ChangeFeed> {
  const channel = `${keyPrefix}changes`;
  // Named after its channel, so an operator (or a drill) can tell the subscriber of each deployment.
  const subscriber = redis.duplicate({ name: channel });
  let live = false;
  let closed = false;
  const { feed, listeners, received } = remoteFeed('redis', () => live, (text) => redis.publish(channel, text), async () => {
    closed = true;
    if (subscriber.isOpen) await subscriber.close().catch(() => undefined);
  });
  const setLive = (next: boolean) => {
    if (live === next || closed) return;
    live = next;
    if (!next) logger.warn('change feed (Redis pub/sub) lost; client lookups read the database until it is back');
    else logger.info('change feed (Redis pub/sub) connected');
    listeners.reset(next);
  };
  subscriber.on('error', () => setLive(false));
  subscriber.on('end', () => setLive(false));
  subscriber.on('reconnecting', () => setLive(false));
  // 'ready' comes before the subscription is restored; the resubscribe is Redis client's own.
  subscriber.on('ready', () => setTimeout(() => subscriber.isReady && setLive(true), 0));
  await connectWithin(subscriber, bound.url, bound.connectMs);
  await subscriber.subscribe(channel, received);
  setLive(true);
  return feed;
}
