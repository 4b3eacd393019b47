import type { AuditRecord } from './audit-event.ts';
import type { AuditRepository } from './audit-repository.ts';

/** Enough to amortise a round trip, small enough to keep one statement cheap. */
const MAX_BATCH = 256;

/** Told about every batch written (metrics): its size, how long it took, whether it was stored. */
export type BatchObserver = (batch: { size: number; seconds: number; ok: boolean }) => void;

/**
 * Group commit for audit records written outside a transaction (the POST /token hot path). Each
 * caller still waits until its own record is durably stored, so no token leaves unaudited, but
 * records of concurrent requests share one transaction: one chain claim, one INSERT and one commit
 * per batch instead of per token. One batch is in flight at a time: the chain's head lock
 * serializes batches anyway, so records that arrive while one is being written wait and form the
 * next batch (larger under load, instead of more batches queueing on the lock). If a batch fails,
 * every caller in it sees the failure and nothing of it is stored.
 */
export function withGroupCommit(inner: AuditRepository, observe?: BatchObserver): AuditRepository {
  let pending: Array<{ record: AuditRecord; resolve: () => void; reject: (e: unknown) => void }> = [];
  let scheduled = false;
  let writing = false;

  function flush(): void {
    scheduled = false;
    if (writing || pending.length === 0) return;
    writing = true;
    const batch = pending.splice(0, MAX_BATCH);
    const started = performance.now();
    inner.appendMany(batch.map((p) => p.record)).then(
      () => {
        observe?.({ size: batch.length, seconds: (performance.now() - started) / 1000, ok: true });
        batch.forEach((p) => p.resolve());
      },
      (error: unknown) => {
        observe?.({ size: batch.length, seconds: (performance.now() - started) / 1000, ok: false });
        batch.forEach((p) => p.reject(error));
      },
    ).finally(() => {
      writing = false;
      flush();
    });
  }

  return {
    ...inner,
    append(record) {
      return new Promise<void>((resolve, reject) => {
        pending.push({ record, resolve, reject });
        if (!scheduled && !writing) {
          scheduled = true;
          // After the I/O callbacks of this turn, so requests that arrived together share the batch.
          setImmediate(flush);
        }
      });
    },
    appendMany: (records) => inner.appendMany(records),
  };
}
