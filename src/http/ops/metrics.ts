import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { TokenMetrics } from '../../oauth/token-endpoint.ts';

/** One registry per app instance, so tests can run several apps in one process. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const issued = new Counter({ name: 'identity_tokens_issued_total', help: 'Access tokens issued', registers: [registry] });
  const denied = new Counter({
    name: 'identity_tokens_denied_total', help: 'Token requests refused, by audit reason', labelNames: ['reason'], registers: [registry],
  });
  const duration = new Histogram({
    name: 'identity_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const tokens: TokenMetrics = { issued: () => issued.inc(), denied: (reason) => denied.inc({ reason }) };
  return { registry, tokens, duration };
}

export type Metrics = ReturnType<typeof createMetrics>;
