import type { Db } from '../persistence/prisma-client.ts';
import type { Gate } from '../persistence/sqlite-gate.ts';
import { translateErrors } from '../persistence/prisma-errors.ts';
import { linkRows } from './audit-chain.ts';

/**
 * Events stored before the chain existed (the audit_chain migration) have no position. On the
 * first start after that migration, while the chain is still empty, they are chained in id (time)
 * order, so an upgraded installation verifies intact and keeps its history protected from then on.
 * Once the chain has begun nothing is adopted: a row without a position is then one inserted
 * behind the service's back, and verification names it.
 */
export async function adoptUnchainedEvents(db: Db, gate: Gate, batchSize = 1000): Promise<number> {
  let adopted = 0;
  for (;;) {
    const done = await gate.run(() => translateErrors(() => db.$transaction(async (tx) => {
      const head = await tx.auditChainHead.findUnique({ where: { id: 1 } });
      if (!head || (head.seq !== 0n && adopted === 0)) return true;
      const rows = await tx.auditEvent.findMany({ where: { seq: null }, orderBy: { id: 'asc' }, take: batchSize });
      if (rows.length === 0) return true;
      // The head update first: it takes the chain's lock before anything is read that depends on it.
      const claimed = await tx.auditChainHead.update({ where: { id: 1, seq: head.seq }, data: { seq: head.seq + BigInt(rows.length) } });
      const linked = linkRows(rows, claimed.seq - BigInt(rows.length), head.hash);
      for (const row of linked.rows) await tx.auditEvent.update({ where: { id: row.id }, data: { seq: row.seq, hash: row.hash } });
      await tx.auditChainHead.update({ where: { id: 1 }, data: { hash: linked.head.hash } });
      adopted += rows.length;
      return rows.length < batchSize;
    }, { timeout: 60_000 })));
    if (done) return adopted;
  }
}
