import { Gauge, Histogram, type Registry } from 'prom-client';
import { PROBE_INTERVAL_MS, type ChangeFeed } from '../../changes/change-feed.ts';

/**
 * The change feed, as an operator watches it: whether it is connected, how long a change takes to
 * come back over it (its lag, from the feed's own probes), and how long since one last did. A feed
 * that is connected but delivers nothing (a lost subscription, a proxy that swallows messages)
 * shows only in the last figure: caches on other instances then stay stale until their refresh.
 * Across cluster workers the worst one counts: the lowest `live`, the oldest echo.
 */
export function registerFeedMetrics(registry: Registry, feed: ChangeFeed): void {
  new Gauge({
    name: 'identity_change_feed_live', help: 'Whether the change feed between instances is connected (1) or not (0)', labelNames: ['feed'], registers: [registry],
    aggregator: 'min',
    collect() {
      this.set({ feed: feed.name }, feed.live ? 1 : 0);
    },
  });
  const probe = feed.probe;
  const lag = new Histogram({
    name: 'identity_change_feed_lag_seconds',
    help: `Time a change published by this instance takes to come back to it over the change feed (its own probes, every ${PROBE_INTERVAL_MS / 1000} s)`,
    labelNames: ['feed'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry],
  });
  probe?.onEcho((seconds) => lag.observe({ feed: feed.name }, seconds));
  new Gauge({
    name: 'identity_change_feed_seconds_since_echo', help: 'Seconds since a probe of this instance last came back over the change feed (absent before the first)',
    labelNames: ['feed'], registers: [registry], aggregator: 'max',
    collect() {
      this.reset();
      const seconds = probe?.secondsSinceEcho();
      if (seconds !== undefined) this.set({ feed: feed.name }, seconds);
    },
  });
}
