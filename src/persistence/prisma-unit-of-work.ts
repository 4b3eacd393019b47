import type { Change } from '../changes/change-feed.ts';
import { withGroupCommit } from '../audit/group-commit.ts';
import type { ChangeRecorder, CommitListener, Stores, UnitOfWork } from '../shared/unit-of-work.ts';
import { createPostgresAuditInsert, createSqliteAuditInsert, type AuditBatchInsert } from './audit-batch-insert.ts';
import type { DatabaseTarget } from './database-target.ts';
import { createPrismaAuditRepository } from './prisma-audit-repository.ts';
import { createPrismaClientRepository } from './prisma-client-repository.ts';
import { closeDatabase, type DbTransaction, type OpenedDatabase } from './prisma-client.ts';
import { translateErrors } from './prisma-errors.ts';
import { createPrismaKeyRepository } from './prisma-key-repository.ts';
import { createPrismaRevocationRepository } from './prisma-revocation-repository.ts';
import { createPrismaTrustedIssuerRepository } from './prisma-trusted-issuer-repository.ts';
import { createSerialGate, gated, openGate, type Gate } from './sqlite-gate.ts';

/** Curried: the same factories build stores on the client or on one transaction (Unleash's withTransactional). */
function storesOn(db: DbTransaction, changes: ChangeRecorder): Stores {
  return {
    clients: createPrismaClientRepository(db, changes),
    keys: createPrismaKeyRepository(db, changes),
    audit: createPrismaAuditRepository(db),
    revocations: createPrismaRevocationRepository(db, changes),
    trustedIssuers: createPrismaTrustedIssuerRepository(db, changes),
  };
}

export type PrismaUnitOfWork = UnitOfWork & {
  gate: Gate;
  /** The audit hot path's batch statement, on the same driver as Prisma Client. */
  insertAuditBatch: AuditBatchInsert;
};

export function createPrismaUnitOfWork(opened: OpenedDatabase, target: DatabaseTarget): PrismaUnitOfWork {
  const { db, driver } = opened;
  const gate = target.provider === 'sqlite' ? createSerialGate() : openGate;
  const listeners: CommitListener[] = [];
  /** Passes committed changes on; a failing listener (a feed that is down) cannot undo a commit. */
  async function committed(changes: readonly Change[]): Promise<void> {
    if (changes.length === 0) return;
    await Promise.all(listeners.map((l) => l(changes).catch(() => undefined)));
  }
  // Outside a transaction a write is committed when its statement returns.
  const plain = storesOn(db, { record: (change) => void committed([change]) });
  const insertAuditBatch = driver.provider === 'sqlite' ? createSqliteAuditInsert(driver.database, gate) : createPostgresAuditInsert(driver.pool);
  const audit = gated(plain.audit, gate);
  return {
    gate,
    insertAuditBatch,
    stores: {
      clients: gated(plain.clients, gate),
      keys: gated(plain.keys, gate),
      revocations: gated(plain.revocations, gate),
      trustedIssuers: gated(plain.trustedIssuers, gate),
      // The hot path: concurrent token requests share one batch statement (group commit).
      audit: withGroupCommit({ ...audit, appendMany: (records) => insertAuditBatch(records) }),
    },
    async transaction(work) {
      const changes: Change[] = [];
      const result = await gate.run(() => translateErrors(() => db.$transaction(
        (tx) => work(storesOn(tx, { record: (change) => void changes.push(change) })),
        { timeout: 10_000, maxWait: 5_000 },
      )));
      await committed(changes);
      return result;
    },
    onCommit: (listener) => void listeners.push(listener),
    ping: () => gate.run(() => translateErrors(async () => {
      await db.$queryRawUnsafe('SELECT 1');
    })),
    close: () => closeDatabase(opened),
  };
}
