import { withGroupCommit } from '../audit/group-commit.ts';
import type { Stores, UnitOfWork } from '../shared/unit-of-work.ts';
import type { DatabaseTarget } from './database-target.ts';
import { createPrismaAuditRepository } from './prisma-audit-repository.ts';
import { createPrismaClientRepository } from './prisma-client-repository.ts';
import type { Db, DbTransaction } from './prisma-client.ts';
import { translateErrors } from './prisma-errors.ts';
import { createPrismaKeyRepository } from './prisma-key-repository.ts';
import { createSerialGate, gated, openGate, type Gate } from './sqlite-gate.ts';

/** Curried: the same factories build stores on the client or on one transaction (Unleash's withTransactional). */
function storesOn(db: DbTransaction): Stores {
  return {
    clients: createPrismaClientRepository(db),
    keys: createPrismaKeyRepository(db),
    audit: createPrismaAuditRepository(db),
  };
}

export function createPrismaUnitOfWork(db: Db, target: DatabaseTarget): UnitOfWork & { gate: Gate } {
  const gate = target.provider === 'sqlite' ? createSerialGate() : openGate;
  const plain = storesOn(db);
  return {
    gate,
    stores: {
      clients: gated(plain.clients, gate),
      keys: gated(plain.keys, gate),
      audit: withGroupCommit(gated(plain.audit, gate)),
    },
    transaction: (work) =>
      gate.run(() => translateErrors(() => db.$transaction((tx) => work(storesOn(tx)), { timeout: 10_000, maxWait: 5_000 }))),
    ping: () => gate.run(() => translateErrors(async () => {
      await db.$queryRawUnsafe('SELECT 1');
    })),
    close: () => db.$disconnect(),
  };
}
