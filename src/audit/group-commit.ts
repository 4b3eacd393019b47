import { createMicroBatcher, type BatchObserver } from '../shared/micro-batcher.ts';
import type { AuditRecord } from './audit-event.ts';
import type { AuditRepository } from './audit-repository.ts';

export type { BatchObserver } from '../shared/micro-batcher.ts';

/** Enough to amortise a round trip, small enough to keep one statement cheap. */
const MAX_BATCH = 256;
/**
 * Batches in flight at once. The chain's head lock still commits them one after another, but the
 * next batch waits for it inside the database, and goes on the moment the previous one commits,
 * instead of being sent only once this process has seen that commit (an event-loop turn and a
 * round trip later, under load several milliseconds).
 */
const MAX_IN_FLIGHT = 4;

/**
 * Group commit for audit records written outside a transaction (the POST /token hot path). Each
 * caller still waits until its own record is durably stored, so no token leaves unaudited, but
 * records of concurrent requests share one transaction: one chain claim, one INSERT and one commit
 * per batch instead of per token. Records that arrive while MAX_IN_FLIGHT batches are being written
 * wait and form the next batch. Each batch claims its positions and computes its hashes inside its
 * own transaction, after the lock is granted, so a batch that fails leaves no gap and the next
 * chains after the last commit. If a batch fails, every caller in it sees the failure and nothing
 * of it is stored.
 */
export function withGroupCommit(inner: AuditRepository, observe?: BatchObserver): AuditRepository {
  const append = createMicroBatcher<AuditRecord, void>(async (records) => {
    await inner.appendMany(records);
    return records.map(() => undefined);
  }, { maxBatch: MAX_BATCH, maxInFlight: MAX_IN_FLIGHT, observe });
  return { ...inner, append };
}
