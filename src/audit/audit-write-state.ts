import { performance } from 'node:perf_hooks';

/**
 * How long an instance stays unready after the audit store refused one of its writes. A partly full
 * disk refuses some writes and accepts others (those that fit in pages SQLite already holds), and the
 * readiness probe's small write is one that fits; without this hold /readyz would answer 200 while
 * most token requests get 503.
 */
export const AUDIT_FAILURE_HOLD_MS = 5_000;

/**
 * What the audit writer last saw (its batch observer), for /readyz: unready while a write was refused
 * within the hold. A monotonic clock, not the service clock: this is about elapsed time here.
 */
export function createAuditWriteState(holdMs = AUDIT_FAILURE_HOLD_MS, now: () => number = () => performance.now()) {
  let failedAt = -Infinity;
  return {
    observe(batch: { ok: boolean }): void {
      if (!batch.ok) failedAt = now();
    },
    /** True while the last refused write is less than the hold ago. */
    refusedRecently(): boolean {
      return now() - failedAt < holdMs;
    },
  };
}
