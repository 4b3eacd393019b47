// The audit writer's batch statement, three ways, on each database: Prisma Client's createMany (what
// the hot path used first), the statement prepared once on the same driver without the hash chain
// (what it used before docs/audit.md), and the chained batch the hot path runs now
// (src/persistence/audit-batch-insert.ts: claim positions on AuditChainHead, hash, insert, set the
// head). Same records, same batch sizes, one transaction per batch.
//
//   npx tsx bench/audit-insert.ts                   # SQLite, and PostgreSQL when reachable
//   AUDIT_BENCH_BATCHES=400 AUDIT_BENCH_BATCH=32 npx tsx bench/audit-insert.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { AuditRecord } from '../src/audit/audit-event.ts';
import { parseDatabaseUrl, type DatabaseTarget } from '../src/persistence/database-target.ts';
import { applyMigrations } from '../src/persistence/migrations.ts';
import { AUDIT_COLUMNS, toAuditRow } from '../src/persistence/audit-row.ts';
import type { OpenedDatabase } from '../src/persistence/prisma-client.ts';
import { openDatabase } from '../src/persistence/prisma-client.ts';
import { createPrismaUnitOfWork } from '../src/persistence/prisma-unit-of-work.ts';

const batches = Number(process.env.AUDIT_BENCH_BATCHES ?? 300);
const batchSize = Number(process.env.AUDIT_BENCH_BATCH ?? 32);
const pgBase = process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

function record(i: number): AuditRecord {
  return {
    type: 'token.issued', outcome: 'success', time: new Date(), clientId: 'bench', authMethod: 'client_secret_basic',
    audience: ['https://orders.internal'], scope: 'orders:read', jti: `jti-${i}`, kid: 'kid-1', sourceAddress: '127.0.0.1',
    requestId: `req-${i}`, details: { grant_type: 'client_credentials', expires_in: 900 },
  };
}

/** The batch statement as it was before the chain: the same rows without seq and hash, nothing else in the transaction. */
function unchainedInsert(opened: OpenedDatabase): (records: AuditRecord[]) => Promise<unknown> {
  const columns = AUDIT_COLUMNS.filter((c) => c !== 'seq' && c !== 'hash');
  const quoted = columns.map((c) => `"${c}"`).join(', ');
  const { driver } = opened;
  if (driver.provider === 'sqlite') {
    const insert = driver.database.prepare(`INSERT INTO "AuditEvent" (${quoted}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`);
    const all = driver.database.transaction((records: AuditRecord[]) => {
      for (const { seq: _s, hash: _h, ...row } of records.map((r) => ({ ...toAuditRow(r), seq: null, hash: null }))) insert.run({ ...row, time: row.time.toISOString().replace('Z', '+00:00') });
    });
    return async (records) => all(records);
  }
  const types = columns.map((c) => (c === 'time' ? 'timestamp(3)[]' : 'text[]'));
  const text = `INSERT INTO "AuditEvent" (${quoted}) SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}`).join(', ')})`;
  return (records) => {
    const rows = records.map(toAuditRow);
    const values = columns.map((c) => rows.map((row) => (c === 'time' ? row.time.toISOString().replace('T', ' ').replace('Z', '') : row[c as keyof typeof row])));
    return driver.pool.query({ name: 'bench_unchained_insert', text, values });
  };
}

async function measure(target: DatabaseTarget) {
  await applyMigrations(target);
  const opened = await openDatabase(target);
  const uow = createPrismaUnitOfWork(opened, target);
  const results: Record<string, number> = {};
  try {
    const ways: Array<[string, (records: AuditRecord[]) => Promise<unknown>]> = [
      ['Prisma createMany', (records) => uow.gate.run(() => opened.db.auditEvent.createMany({ data: records.map(toAuditRow) }))],
      ['prepared statement', unchainedInsert(opened)],
      ['chained', (records) => uow.insertAuditBatch(records)],
    ];
    for (let round = 0; round < 2; round++) {
      for (const [name, insert] of ways) {
        let n = 0;
        const started = performance.now();
        for (let b = 0; b < batches; b++) await insert(Array.from({ length: batchSize }, () => record(n++)));
        // The second round counts: the first warms both up (statement caches, JIT).
        if (round === 1) results[name] = ((performance.now() - started) * 1000) / (batches * batchSize);
      }
    }
  } finally {
    await uow.close();
  }
  return results;
}

async function postgresTarget(): Promise<{ target: DatabaseTarget; drop(): Promise<void> } | undefined> {
  const admin = new pg.Client({ connectionString: pgBase, connectionTimeoutMillis: 2000 });
  try {
    await admin.connect();
  } catch {
    return undefined;
  }
  const name = `idb_audit_bench_${process.pid}`;
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = new URL(pgBase);
  url.pathname = `/${name}`;
  return {
    target: parseDatabaseUrl(url.toString())!,
    async drop() {
      const c = new pg.Client({ connectionString: pgBase });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}

function row(name: string, r: Record<string, number>): string {
  const cell = (us: number) => `${us.toFixed(1)} (${Math.round(1e6 / us).toLocaleString('en')}/s)`;
  return `| ${name} | ${cell(r['Prisma createMany']!)} | ${cell(r['prepared statement']!)} | ${cell(r['chained']!)} | ×${(r['chained']! / r['prepared statement']!).toFixed(2)} |`;
}

const dir = mkdtempSync(path.join(tmpdir(), 'idb-audit-bench-'));
const rows: string[] = [];
try {
  const sqlite = await measure(parseDatabaseUrl(`file:${path.join(dir, 'audit.db')}`)!);
  rows.push(row('sqlite', sqlite));
  const postgres = await postgresTarget();
  if (postgres) {
    try {
      const r = await measure(postgres.target);
      rows.push(row('postgresql', r));
    } finally {
      await postgres.drop();
    }
  } else rows.push('| postgresql | (unreachable) | | | |');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`audit batch insert, ${batches} batches of ${batchSize} records, µs per record (events/s) (second of two rounds), one writer\n`);
console.log('| database | Prisma createMany | prepared statement, no chain | chained (hot path now) | chain cost |\n|---|---|---|---|---|');
for (const row of rows) console.log(row);
