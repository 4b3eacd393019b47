import { Counter, Histogram, type Registry } from 'prom-client';
import type { BatchObserver } from '../../audit/group-commit.ts';

/** The audit writer's figures: batch sizes, how long a batch takes to store, batches that failed. */
export function createAuditMetrics(registry: Registry): { batch: BatchObserver } {
  const size = new Histogram({
    name: 'identity_audit_batch_size', help: 'Audit events stored per batch (group commit)', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers: [registry],
  });
  const latency = new Histogram({
    name: 'identity_audit_flush_duration_seconds', help: 'Time to store one audit batch (chain claim, insert, commit)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry],
  });
  const failures = new Counter({
    name: 'identity_audit_write_failures_total', help: 'Audit batches the database did not store (their requests were refused)', registers: [registry],
  });
  const events = new Counter({ name: 'identity_audit_events_written_total', help: 'Audit events stored by the batch writer', registers: [registry] });
  return {
    batch({ size: n, seconds, ok }) {
      latency.observe(seconds);
      if (!ok) return void failures.inc();
      size.observe(n);
      events.inc(n);
    },
  };
}
