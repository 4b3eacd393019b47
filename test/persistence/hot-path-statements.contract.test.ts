import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditRecord } from '../../src/audit/audit-event.ts';
import { Prisma as PostgresPrisma } from '../../src/generated/prisma/postgresql/client.ts';
import { Prisma as SqlitePrisma } from '../../src/generated/prisma/sqlite/client.ts';
import { parseDatabaseUrl } from '../../src/persistence/database-target.ts';
import { applyMigrations } from '../../src/persistence/migrations.ts';
import { AUDIT_COLUMNS } from '../../src/persistence/audit-row.ts';
import { openDatabase, type OpenedDatabase } from '../../src/persistence/prisma-client.ts';
import { createDatabaseReplayCache } from '../../src/persistence/database-replay-cache.ts';
import { createPrismaUnitOfWork, type PrismaUnitOfWork } from '../../src/persistence/prisma-unit-of-work.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';
import { verifyAuditChain } from '../../src/audit/verify-audit-chain.ts';

/**
 * The token hot path writes audit rows with its own statement on the driver (audit-batch-insert.ts),
 * not through Prisma Client. This proves, on the database under test, that the statement writes
 * exactly the AuditEvent columns schema.prisma declares, with values Prisma reads back unchanged.
 */
describe(`hot-path statements on the driver match schema.prisma: audit batch insert, replay-cache upsert (${process.env.DATABASE_URL?.startsWith('postgres') ? 'postgresql' : 'sqlite'})`, () => {
  let database: TestDatabase;
  let uow: PrismaUnitOfWork;
  let opened: OpenedDatabase;

  before(async () => {
    database = await createTestDatabase();
    const target = parseDatabaseUrl(database.url)!;
    await applyMigrations(target);
    opened = await openDatabase(target);
    uow = createPrismaUnitOfWork(opened, target);
  });
  after(async () => {
    await uow?.close();
    await database?.drop();
  });

  it('names every column of the AuditEvent model, and nothing else', () => {
    for (const model of [PostgresPrisma.AuditEventScalarFieldEnum, SqlitePrisma.AuditEventScalarFieldEnum]) {
      assert.deepEqual([...AUDIT_COLUMNS].sort(), Object.values(model).sort());
    }
  });

  it('stores what Prisma reads back field for field, optional fields set and unset, in one batch', async () => {
    const time = new Date('2026-11-30T23:59:58.123Z');
    const full: AuditRecord = {
      type: 'token.issued', outcome: 'success', time, reason: 'r', clientId: 'c-contract', authMethod: 'client_secret_basic',
      audience: ['https://a.internal', 'https://b.internal'], scope: 'orders:read orders:write', jti: 'jti-1', kid: 'kid-1',
      sourceAddress: '203.0.113.9', requestId: 'req-1', details: { grant_type: 'client_credentials', expires_in: 900, nested: { unicode: 'ü✓' } },
    };
    const bare: AuditRecord = { type: 'token.denied', outcome: 'failure', time: new Date(time.getTime() + 1) };
    await uow.insertAuditBatch([full, bare]);
    const rows = await uow.stores.audit.list({ since: new Date(time.getTime() - 1000) }, { limit: 10 });
    assert.equal(rows.items.length, 2);
    const [second, first] = rows.items;
    const { id: firstId, ...firstFields } = first!;
    const { id: secondId, ...secondFields } = second!;
    assert.match(firstId, /^[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.ok(secondId > firstId, 'ids keep the batch in time order');
    const absent = { reason: undefined, clientId: undefined, authMethod: undefined, audience: undefined, scope: undefined, jti: undefined, kid: undefined, sourceAddress: undefined, requestId: undefined, details: undefined };
    assert.deepEqual(firstFields, { ...absent, ...full });
    assert.deepEqual(secondFields, { ...absent, ...bare });
  });

  it('chains batches from two writers racing on their own connections gap-free, each hash as the verifier recomputes it', async () => {
    const target = parseDatabaseUrl(database.url)!;
    const second = createPrismaUnitOfWork(await openDatabase(target), target);
    try {
      const before = await uow.stores.audit.list({ clientId: 'c-race' }, { limit: 1 });
      assert.equal(before.items.length, 0);
      const time = new Date('2026-12-03T00:00:00.000Z');
      const batch = (writer: number, n: number, size: number): AuditRecord[] => Array.from({ length: size }, (_, i) => ({
        type: 'token.issued', outcome: 'success', time: new Date(time.getTime() + n * 10 + i), clientId: 'c-race',
        // Text the hash must take byte for byte: quotes, backslashes, newlines, non-ASCII, and absent fields.
        ...(i % 2 ? {} : { reason: `w${writer} "quoted" \\ back\nslash ü✓ 𝄞` }), details: { writer, n, i },
      }));
      await Promise.all(Array.from({ length: 24 }, (_, n) => (n % 2 ? second : uow).insertAuditBatch(batch(n % 2, n, 1 + (n % 4)))));
      const result = await verifyAuditChain(opened.db);
      assert.deepEqual({ intact: result.intact, mismatch: result.firstMismatch }, { intact: true, mismatch: null });
      const seqs = (await opened.db.auditEvent.findMany({ where: { seq: { not: null } }, select: { seq: true }, orderBy: { seq: 'asc' } })).map((r) => Number(r.seq));
      assert.deepEqual(seqs, seqs.map((_, i) => i + 1), 'gap-free from 1');
      const head = await opened.db.auditChainHead.findUnique({ where: { id: 1 } });
      assert.equal(Number(head!.seq), seqs.length);
    } finally {
      await second.close();
    }
  });

  it('the replay-cache upsert writes the ReplayEntry columns Prisma reads back, and nothing else', async () => {
    for (const model of [PostgresPrisma.ReplayEntryScalarFieldEnum, SqlitePrisma.ReplayEntryScalarFieldEnum]) {
      assert.deepEqual(Object.values(model).sort(), ['expiresAt', 'key']);
    }
    const clock = { now: () => new Date('2026-12-01T10:00:00.000Z') };
    const cache = createDatabaseReplayCache(opened, uow.gate, clock);
    const expiresAt = new Date('2026-12-01T10:01:30.123Z');
    assert.equal(await cache.useOnce('contract:k1', expiresAt), true);
    assert.equal(await cache.useOnce('contract:k1', expiresAt), false);
    const row = await opened.db.replayEntry.findUnique({ where: { key: 'contract:k1' } });
    assert.deepEqual(row, { key: 'contract:k1', expiresAt });
    // Prisma's own comparisons see the same instant: the prune query keeps it until it has passed.
    assert.equal(await opened.db.replayEntry.count({ where: { key: 'contract:k1', expiresAt: { lt: new Date(expiresAt.getTime() + 1) } } }), 1);
    assert.equal(await opened.db.replayEntry.count({ where: { key: 'contract:k1', expiresAt: { lt: expiresAt } } }), 0);
  });

  it('claims a batch of concurrent keys in one statement: each key once, a key twice in the batch by its first copy, a live entry never, an expired one again', async () => {
    const now = new Date('2026-12-01T11:00:00.000Z');
    const cache = createDatabaseReplayCache(opened, uow.gate, { now: () => now });
    const later = new Date(now.getTime() + 90_000);
    await opened.db.replayEntry.createMany({
      data: [{ key: 'batch:live', expiresAt: later }, { key: 'batch:expired', expiresAt: new Date(now.getTime() - 1) }],
    });
    // Called in one turn, so the claims share one batch.
    const keys = ['batch:a', 'batch:b', 'batch:a', 'batch:live', 'batch:expired', 'batch:c', 'batch:b'];
    const results = await Promise.all(keys.map((key) => cache.useOnce(key, later)));
    assert.deepEqual(results, [true, true, false, false, true, true, false]);
    const rows = await opened.db.replayEntry.findMany({ where: { key: { startsWith: 'batch:' } }, orderBy: { key: 'asc' } });
    assert.deepEqual(rows, ['a', 'b', 'c', 'expired', 'live'].map((k) => ({ key: `batch:${k}`, expiresAt: later })));
    assert.deepEqual(await Promise.all(['batch:a', 'batch:new'].map((key) => cache.useOnce(key, later))), [false, true]);
  });

  it('stores nothing of a batch that fails part-way (all or none)', async () => {
    const time = new Date('2026-12-02T00:00:00.000Z');
    const ok: AuditRecord = { type: 'token.issued', outcome: 'success', time, clientId: 'c-atomic' };
    // A NUL cannot be stored in PostgreSQL text; on SQLite a non-string type fails the bind.
    const broken = { ...ok, clientId: database.provider === 'postgresql' ? 'bad\u0000id' : (Symbol('x') as unknown as string) };
    await assert.rejects(uow.insertAuditBatch([ok, broken]));
    const rows = await uow.stores.audit.list({ clientId: 'c-atomic' }, { limit: 10 });
    assert.equal(rows.items.length, 0);
  });
});
