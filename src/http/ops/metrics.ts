import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TokenMetrics } from '../../oauth/token-endpoint.ts';
import { createAuditMetrics } from './audit-metrics.ts';
import { createServiceMetrics, type KeyTimes } from './service-metrics.ts';

/** One registry per app instance, so tests can run several apps in one process. */
export type MetricsOptions = {
  directory?: { stats(): { hits: number; misses: number; known: number; unknown: number } };
  shareWithPrimary?: boolean;
  /**
   * Label denials with the audit reason too. Only on a private METRICS_PORT: reasons such as
   * unknown_client or client_disabled tell anyone who can read them which client ids exist, which
   * the token endpoint's answers are careful never to reveal.
   */
  denialReasons?: boolean;
  /** Clients and audiences with series of their own in the per-client counters (METRICS_TOP_CLIENTS). */
  topClients?: number;
  keyTimes?: KeyTimes;
  now?: () => Date;
};

export function createMetrics(sources: MetricsOptions = {}) {
  const registry = new Registry();
  // A cluster worker answers its primary's requests for this registry (prom-client's aggregation).
  if (sources.shareWithPrimary) {
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([registry]);
  }
  collectDefaultMetrics({ register: registry });
  const { directory } = sources;
  if (directory) {
    new Gauge({
      name: 'identity_client_directory_entries', help: 'Clients held in memory (known) and unknown ids remembered', labelNames: ['kind'], registers: [registry],
      collect() {
        const s = directory.stats();
        this.set({ kind: 'known' }, s.known);
        this.set({ kind: 'unknown' }, s.unknown);
      },
    });
    new Counter({
      name: 'identity_client_directory_lookups_total', help: 'Client lookups on POST /token, by whether memory answered', labelNames: ['result'], registers: [registry],
      collect() {
        const s = directory.stats();
        this.reset();
        this.inc({ result: 'hit' }, s.hits);
        this.inc({ result: 'miss' }, s.misses);
      },
    });
  }
  const issued = new Counter({ name: 'identity_tokens_issued_total', help: 'Access tokens issued', registers: [registry] });
  const denied = new Counter({
    name: 'identity_tokens_denied_total',
    help: sources.denialReasons ? 'Token requests refused, by OAuth error and audit reason' : 'Token requests refused, by OAuth error',
    labelNames: sources.denialReasons ? ['error', 'reason'] : ['error'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'identity_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  // Client ids and audiences are named only on the private METRICS_PORT, like denial reasons: on the
  // public port they would tell anyone which clients exist.
  const service = createServiceMetrics(registry, { topN: sources.denialReasons ? sources.topClients ?? 20 : 0, ...(sources.keyTimes && { keyTimes: sources.keyTimes }), now: sources.now ?? (() => new Date()) });
  const tokens: TokenMetrics = {
    issued: (token) => {
      issued.inc();
      service.issued(token);
    },
    denied: (error) => {
      denied.inc(sources.denialReasons ? { error: error.code, reason: error.reason } : { error: error.code });
      service.denied(error.reason);
    },
  };
  /** One labelled child per (route, status), made once: labelling per request hashes the labels each time. */
  const children = new Map<string, ReturnType<typeof duration.labels>>();
  function observeRequest(route: string, status: number, seconds: number): void {
    const key = `${route} ${status}`;
    let child = children.get(key);
    if (!child) children.set(key, (child = duration.labels({ route, status: String(status) })));
    child.observe(seconds);
  }
  return { registry, tokens, duration, observeRequest, audit: createAuditMetrics(registry) };
}

export type Metrics = ReturnType<typeof createMetrics>;
