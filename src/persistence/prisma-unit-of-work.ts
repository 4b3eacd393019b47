import type { Change } from '../changes/change-feed.ts';
import { withGroupCommit, type BatchObserver } from '../audit/group-commit.ts';
import type { ChangeRecorder, CommitListener, Stores, UnitOfWork } from '../shared/unit-of-work.ts';
import { createPostgresAuditInsert, createSqliteAuditInsert, type AuditBatchInsert } from './audit-batch-insert.ts';
import type { DatabaseTarget } from './database-target.ts';
import type { AuditRecord } from '../audit/audit-event.ts';
import { appendChained, createPrismaAuditRepository } from './prisma-audit-repository.ts';
import { createPrismaClientRepository } from './prisma-client-repository.ts';
import { closeDatabase, type DbTransaction, type OpenedDatabase } from './prisma-client.ts';
import { translateErrors } from './prisma-errors.ts';
import { createPrismaKeyRepository } from './prisma-key-repository.ts';
import type { DependencyHealth } from './dependency-health.ts';
import { DEFAULT_DATABASE_BOUNDS, type DatabaseBounds } from './database-bounds.ts';
import { createPrismaRevocationRepository } from './prisma-revocation-repository.ts';
import { createPrismaTrustedIssuerRepository } from './prisma-trusted-issuer-repository.ts';
import { createSerialGate, gated, openGate, type Gate } from './sqlite-gate.ts';

/** Curried: the same factories build stores on the client or on one transaction (Unleash's withTransactional). */
function storesOn(db: DbTransaction, changes: ChangeRecorder, writeAudit: (records: readonly AuditRecord[]) => Promise<void>): Stores {
  return {
    clients: createPrismaClientRepository(db, changes),
    keys: createPrismaKeyRepository(db, changes),
    audit: createPrismaAuditRepository(db, writeAudit),
    revocations: createPrismaRevocationRepository(db, changes),
    trustedIssuers: createPrismaTrustedIssuerRepository(db, changes),
  };
}

export type PrismaUnitOfWork = UnitOfWork & {
  gate: Gate;
  /** The audit hot path's batch statement, on the same driver as Prisma Client. */
  insertAuditBatch: AuditBatchInsert;
};

/**
 * Reports each outcome of `work` to the database's health (one log line per transition). A read
 * that succeeds says nothing about writes (a held lock, a full disk or a read-only file let reads
 * through), so only writes report success.
 */
function tracked<A extends unknown[], T>(health: DependencyHealth | undefined, work: (...args: A) => Promise<T>, write = true): (...args: A) => Promise<T> {
  if (!health) return work;
  return async (...args) => {
    try {
      const result = await work(...args);
      if (write) health.succeeded();
      return result;
    } catch (error) {
      health.failed(error);
      throw error;
    }
  };
}

const PROBE_SETTING = 'readiness.probe';

export type UnitOfWorkOptions = {
  bounds?: DatabaseBounds;
  health?: DependencyHealth | undefined;
  observeAuditBatch?: BatchObserver;
  onAudited?: (records: readonly AuditRecord[]) => void;
};

export function createPrismaUnitOfWork(opened: OpenedDatabase, target: DatabaseTarget, options: UnitOfWorkOptions = {}): PrismaUnitOfWork {
  const { bounds = DEFAULT_DATABASE_BOUNDS, health } = options;
  const { db, driver } = opened;
  const gate = target.provider === 'sqlite' ? createSerialGate({ lockWaitMs: bounds.statementMs }) : openGate;
  const listeners: CommitListener[] = [];
  /** Passes committed changes on; a failing listener (a feed that is down) cannot undo a commit. */
  async function committed(changes: readonly Change[]): Promise<void> {
    if (changes.length === 0) return;
    await Promise.all(listeners.map((l) => l(changes).catch(() => undefined)));
  }
  // Outside a transaction a write is committed when its statement returns.
  const insertChained = tracked(health, driver.provider === 'sqlite' ? createSqliteAuditInsert(driver.database, gate) : createPostgresAuditInsert(driver.pool));
  const { onAudited } = options;
  // Told only of what is stored: after the batch's commit here, after the transaction's below.
  const insertAuditBatch: AuditBatchInsert = onAudited
    ? async (records) => {
      await insertChained(records);
      onAudited(records);
    }
    : insertChained;
  // Outside a transaction every audit write is the batch statement (its own transaction; gated inside).
  const plain = storesOn(db, { record: (change) => void committed([change]) }, (records) => insertAuditBatch(records));
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
      audit: withGroupCommit({ ...audit, appendMany: (records) => insertAuditBatch(records) }, options.observeAuditBatch),
    },
    async transaction(work) {
      let changes: Change[] = [];
      const audited: AuditRecord[] = [];
      // The gate may run this again after a lock wait (SQLite): each attempt records its own changes.
      const result = await gate.run(() => {
        changes = [];
        return translateErrors(() => db.$transaction(
          async (tx) => {
            audited.length = 0;
            const done = await work(storesOn(tx, { record: (change) => void changes.push(change) }, async (records) => void audited.push(...records)));
            await appendChained(tx, audited);
            return done;
          },
          { timeout: 10_000, maxWait: 5_000 },
        ));
      });
      if (audited.length) onAudited?.(audited);
      await committed(changes);
      return result;
    },
    onCommit: (listener) => void listeners.push(listener),
    ping: tracked(health, () => gate.run(() => translateErrors(async () => {
      await db.$queryRawUnsafe('SELECT 1');
    })), false),
    probeWrite: tracked(health, () => gate.run(() => translateErrors(async () => {
      const value = new Date().toISOString();
      await db.serviceSetting.upsert({ where: { name: PROBE_SETTING }, create: { name: PROBE_SETTING, value }, update: { value }, select: { name: true } });
    }))),
    close: () => closeDatabase(opened),
  };
}
