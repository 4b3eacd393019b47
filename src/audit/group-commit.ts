import type { AuditRecord } from './audit-event.ts';
import type { AuditRepository } from './audit-repository.ts';

/** Enough to amortise a round trip, small enough to keep one statement cheap. */
const MAX_BATCH = 256;

/**
 * Group commit for audit records written outside a transaction (the POST /token hot path). Each
 * caller still waits until its own record is durably stored, so no token leaves unaudited, but
 * records of concurrent requests share one INSERT: one database round trip (and one commit) per
 * batch instead of per token. If the batch fails, every caller in it sees the failure.
 */
export function withGroupCommit(inner: AuditRepository): AuditRepository {
  let pending: Array<{ record: AuditRecord; resolve: () => void; reject: (e: unknown) => void }> = [];
  let scheduled = false;

  function flush(): void {
    scheduled = false;
    while (pending.length) {
      const batch = pending.splice(0, MAX_BATCH);
      inner.appendMany(batch.map((p) => p.record)).then(
        () => batch.forEach((p) => p.resolve()),
        (error: unknown) => batch.forEach((p) => p.reject(error)),
      );
    }
  }

  return {
    append(record) {
      return new Promise<void>((resolve, reject) => {
        pending.push({ record, resolve, reject });
        if (pending.length >= MAX_BATCH) flush();
        else if (!scheduled) {
          scheduled = true;
          // After the I/O callbacks of this turn, so requests that arrived together share the batch.
          setImmediate(flush);
        }
      });
    },
    appendMany: (records) => inner.appendMany(records),
    list: (filter, page) => inner.list(filter, page),
  };
}
