import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { boundedLabel } from './bounded-labels.ts';

export type IssuedToken = { clientId: string; audience: readonly string[]; authMethod: string; expiresIn: number };

/** The active signing key and when it is due for rotation; undefined before the key set is loaded. */
export type KeyTimes = () => { activatedAt: Date; rotationDueAt: Date } | undefined;

/** Denial reasons that are the service's own throttles, by the metric's kind label. */
const THROTTLES: Record<string, string> = { rate_limited: 'rate_limit', auth_failures_locked: 'lockout', quota_exceeded: 'quota' };

/**
 * What an operator acts on, beyond the request counters of metrics.ts: tokens issued by client,
 * audience and auth method (each label bounded to the top `topN` plus `other`), throttle
 * rejections, signing-key age and time to the next rotation, and how often each client asks for a
 * token compared with how long its tokens live (the clients that do not cache).
 */
export function createServiceMetrics(registry: Registry, opts: { topN: number; keyTimes?: KeyTimes; now: () => Date }) {
  const client = boundedLabel(opts.topN);
  const audience = boundedLabel(opts.topN);
  const byClient = new Counter({
    name: 'identity_tokens_issued_by_client_total',
    help: `Access tokens issued by client, audience and auth method (the first ${opts.topN} clients and audiences seen, the rest as other)`,
    labelNames: ['client_id', 'audience', 'auth_method'],
    registers: [registry],
  });
  const issuedChildren = new Map<string, ReturnType<typeof byClient.labels>>();
  // Tokens a client asked for within one lifetime of its tokens: 1 for a client that caches, N for one that asks on every call.
  const perLifetime = new Histogram({
    name: 'identity_tokens_per_client_lifetime',
    help: 'Tokens each client was issued within one lifetime of its tokens (observed when that lifetime ends; above 1 means it does not reuse its tokens)',
    labelNames: ['client_id'],
    buckets: [1, 2, 5, 10, 50, 100, 1000, 10000],
    registers: [registry],
  });
  const throttled = new Counter({
    name: 'identity_token_throttled_total', help: 'Token requests refused by a rate limit, a lockout or a quota', labelNames: ['kind'], registers: [registry],
  });
  if (opts.keyTimes) {
    const keyTimes = opts.keyTimes;
    new Gauge({
      name: 'identity_signing_key_age_seconds', help: 'Age of the active signing key since its activation', registers: [registry], aggregator: 'max',
      collect() {
        const t = keyTimes();
        if (t) this.set((opts.now().getTime() - t.activatedAt.getTime()) / 1000);
      },
    });
    new Gauge({
      name: 'identity_signing_key_rotation_due_seconds', help: 'Seconds until the active key is due for rotation (negative: overdue)', registers: [registry], aggregator: 'min',
      collect() {
        const t = keyTimes();
        if (t) this.set((t.rotationDueAt.getTime() - opts.now().getTime()) / 1000);
      },
    });
  }

  /** Per client: the tokens issued since its current lifetime window opened (bounded like the labels). */
  const windows = new Map<string, { until: number; count: number }>();
  const reuse = {
    record(clientId: string, expiresIn: number, now: number) {
      const w = windows.get(clientId);
      if (w && now < w.until) return void w.count++;
      if (w) perLifetime.observe({ client_id: client(clientId) }, w.count);
      if (!w && windows.size >= 10_000) return;
      windows.set(clientId, { until: now + expiresIn * 1000, count: 1 });
    },
  };

  return {
    issued(token: IssuedToken) {
      const labels = { client_id: client(token.clientId), audience: audience(token.audience.length === 1 ? token.audience[0] : token.audience.join(' ')), auth_method: token.authMethod };
      // One labelled child per bounded (client, audience, method), made once, as metrics.ts does per route:
      // inc(labels) would hash the label set on every token.
      const key = `${labels.client_id}\n${labels.audience}\n${labels.auth_method}`;
      let child = issuedChildren.get(key);
      if (!child) issuedChildren.set(key, (child = byClient.labels(labels)));
      child.inc();
      reuse.record(token.clientId, token.expiresIn, opts.now().getTime());
    },
    denied(reason: string) {
      const kind = THROTTLES[reason];
      if (kind) throttled.inc({ kind });
    },
    reuse,
  };
}
