import { Counter, Gauge, type Registry } from 'prom-client';
import type { DependencyHealth } from '../../persistence/dependency-health.ts';

/**
 * What weakens while an optional dependency is down (redis-fallback.ts): a guarantee named here is
 * reported 1 for as long as it is weakened.
 */
const DEGRADED_BY: Record<string, readonly string[]> = {
  redis: ['shared_replay_cache', 'shared_rate_limits'],
};

/**
 * Each dependency's state as this process sees it: up (1/0), failures by cause, and the guarantees
 * that are weakened while an optional one is down. Registered on the app's registry, beside the
 * HTTP metrics, so cluster aggregation and METRICS_PORT carry them as they carry the rest.
 */
export function registerDependencyMetrics(registry: Registry, dependencies: readonly DependencyHealth[]): void {
  new Gauge({
    name: 'identity_dependency_up', help: 'Whether the dependency answered its last call (1) or not (0)', labelNames: ['dependency'], registers: [registry],
    collect() {
      for (const d of dependencies) this.set({ dependency: d.name }, d.up ? 1 : 0);
    },
  });
  new Counter({
    name: 'identity_dependency_failures_total', help: 'Failed dependency calls, by dependency and cause', labelNames: ['dependency', 'cause'], registers: [registry],
    collect() {
      this.reset();
      for (const d of dependencies) for (const [cause, n] of d.failures) this.inc({ dependency: d.name, cause }, n);
    },
  });
  new Gauge({
    name: 'identity_degraded_guarantees', help: 'Guarantees weakened while an optional dependency is down (1 = weakened)', labelNames: ['guarantee'], registers: [registry],
    collect() {
      for (const d of dependencies) for (const g of DEGRADED_BY[d.name] ?? []) this.set({ guarantee: g }, d.up ? 0 : 1);
    },
  });
}
