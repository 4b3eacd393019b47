import type { Clock } from '../shared/clock.ts';
import type { Db } from '../persistence/prisma-client.ts';
import { translateErrors } from '../persistence/prisma-errors.ts';
import type { Gate } from '../persistence/sqlite-gate.ts';
import { chainHash, GENESIS_HASH } from './audit-chain.ts';
import type { CheckpointWriter } from './audit-checkpoints.ts';

export type PruneResult = { deleted: number; anchor: bigint | undefined; refused?: string };

/**
 * AUDIT_RETENTION: deletes events older than the retention, oldest positions first, without
 * breaking verification. The cut is the position just before the oldest event still within the
 * retention (so no kept event goes); the segment up to it is recomputed first (a broken segment is
 * left in place for an auditor, not blessed), then a signed `anchor` checkpoint records the hash at
 * the cut, where verification resumes, and the rows below it go in batches, each its own short
 * statement (SQLite: its own turn of the gate), so token requests interleave with a large prune.
 */
export function createAuditPruner(deps: { db: Db; gate: Gate; clock: Clock; retentionSeconds: number; checkpoints: CheckpointWriter; batchSize?: number }) {
  const { db, gate } = deps;
  const batchSize = deps.batchSize ?? 1000;
  const q = <T>(query: () => Promise<T>) => gate.run(() => translateErrors(query));

  async function cutPosition(): Promise<bigint | undefined> {
    const cutoff = new Date(deps.clock.now().getTime() - deps.retentionSeconds * 1000);
    const head = await q(() => db.auditChainHead.findUnique({ where: { id: 1 } }));
    if (!head || head.seq === 0n) return undefined;
    const oldestKept = await q(() => db.auditEvent.findFirst({ where: { time: { gte: cutoff }, seq: { not: null } }, orderBy: { seq: 'asc' }, select: { seq: true } }));
    return oldestKept ? oldestKept.seq! - 1n : head.seq;
  }

  /** The hash at `cut`, recomputed from the previous anchor; a string names what is wrong. */
  async function segmentHash(from: { seq: bigint; hash: string }, cut: bigint): Promise<string | { problem: string }> {
    let previous = from.hash;
    let expected = from.seq + 1n;
    for (;;) {
      const rows = await q(() => db.auditEvent.findMany({ where: { seq: { gte: expected, lte: cut } }, orderBy: { seq: 'asc' }, take: batchSize }));
      for (const row of rows) {
        if (row.seq !== expected) return { problem: `positions from ${expected} are missing` };
        previous = chainHash(previous, row.seq, row);
        if (previous !== row.hash) return { problem: `event ${row.id} does not match its hash` };
        expected++;
      }
      if (rows.length < batchSize) break;
    }
    if (expected !== cut + 1n) return { problem: `positions from ${expected} are missing` };
    return previous;
  }

  return {
    async prune(): Promise<PruneResult> {
      const cut = await cutPosition();
      const anchor = await q(() => db.auditCheckpoint.findFirst({ where: { kind: 'anchor' }, orderBy: { seq: 'desc' } }));
      const from = anchor ?? { seq: 0n, hash: GENESIS_HASH };
      if (cut === undefined || cut <= from.seq) return { deleted: 0, anchor: anchor?.seq };
      const hash = await segmentHash(from, cut);
      if (typeof hash !== 'string') return { deleted: 0, anchor: anchor?.seq, refused: `the chain below the cut is broken (${hash.problem}); nothing was pruned` };
      if (!(await deps.checkpoints.write('anchor', { seq: cut, hash }))) return { deleted: 0, anchor: anchor?.seq, refused: 'no active signing key to sign the anchor' };
      let deleted = 0;
      for (;;) {
        const ids = await q(() => db.auditEvent.findMany({ where: { seq: { lte: cut } }, orderBy: { seq: 'asc' }, take: batchSize, select: { id: true } }));
        if (ids.length === 0) break;
        deleted += (await q(() => db.auditEvent.deleteMany({ where: { id: { in: ids.map((r) => r.id) } } }))).count;
        // Let waiting requests have the database between batches.
        await new Promise((resolve) => setImmediate(resolve));
      }
      await q(() => db.auditCheckpoint.deleteMany({ where: { seq: { lt: cut } } }));
      return { deleted, anchor: cut };
    },
  };
}

export type AuditPruner = ReturnType<typeof createAuditPruner>;

/** Prunes every `intervalMs` (first after `initialDelayMs`); results and failures go to the callbacks. */
export function startPruneTimer(pruner: AuditPruner, opts: { intervalMs: number; initialDelayMs: number; onResult(result: PruneResult): void; onError(error: unknown): void }) {
  let running: Promise<unknown> = Promise.resolve();
  const run = () => {
    running = pruner.prune().then(opts.onResult, opts.onError);
  };
  const first = setTimeout(run, opts.initialDelayMs);
  const timer = setInterval(run, opts.intervalMs);
  first.unref();
  timer.unref();
  return {
    async stop() {
      clearTimeout(first);
      clearInterval(timer);
      await running;
    },
  };
}
