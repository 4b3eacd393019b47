import type { AuditRecord } from './audit-event.ts';
import type { AuditRepository } from './audit-repository.ts';

/** Enough to amortise a round trip, small enough to keep one statement cheap. */
const MAX_BATCH = 256;
/**
 * Batches in flight at once. The chain's head lock still commits them one after another, but the
 * next batch waits for it inside the database, and goes on the moment the previous one commits,
 * instead of being sent only once this process has seen that commit (an event-loop turn and a
 * round trip later, under load several milliseconds).
 */
const MAX_IN_FLIGHT = 4;

/** Told about every batch written (metrics): its size, how long it took, whether it was stored. */
export type BatchObserver = (batch: { size: number; seconds: number; ok: boolean }) => void;

/**
 * Group commit for audit records written outside a transaction (the POST /token hot path). Each
 * caller still waits until its own record is durably stored, so no token leaves unaudited, but
 * records of concurrent requests share one transaction: one chain claim, one INSERT and one commit
 * per batch instead of per token. At most MAX_IN_FLIGHT batches are in flight: the chain's head
 * lock serializes their commits anyway, so records that arrive while those are being written wait
 * and form the next batch (larger under load, instead of more batches queueing on the lock). Each
 * batch claims its positions and computes its hashes inside its own transaction, after the lock is
 * granted, so a batch that fails leaves no gap and the next chains after the last commit. If a batch fails,
 * every caller in it sees the failure and nothing of it is stored.
 */
export function withGroupCommit(inner: AuditRepository, observe?: BatchObserver): AuditRepository {
  let pending: Array<{ record: AuditRecord; resolve: () => void; reject: (e: unknown) => void }> = [];
  let scheduled = false;
  let writing = 0;

  function flush(): void {
    scheduled = false;
    if (writing >= MAX_IN_FLIGHT || pending.length === 0) return;
    writing++;
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
      writing--;
      flush();
    });
  }

  return {
    ...inner,
    append(record) {
      return new Promise<void>((resolve, reject) => {
        pending.push({ record, resolve, reject });
        if (!scheduled && writing < MAX_IN_FLIGHT) {
          scheduled = true;
          // After the I/O callbacks of this turn, so requests that arrived together share the batch.
          setImmediate(flush);
        }
      });
    },
    appendMany: (records) => inner.appendMany(records),
  };
}
