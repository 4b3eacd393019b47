import type BetterSqlite3 from 'better-sqlite3';
import type pg from 'pg';
import type { AuditRecord } from '../audit/audit-event.ts';
import { StorageUnavailable } from '../shared/errors.ts';
import { AUDIT_COLUMNS, toAuditRow, type AuditRow } from './audit-row.ts';
import type { Gate } from './sqlite-gate.ts';

/** Stores a batch of audit records in one transaction: all of them or none. */
export type AuditBatchInsert = (records: readonly AuditRecord[]) => Promise<void>;

const quoted = AUDIT_COLUMNS.map((c) => `"${c}"`).join(', ');

function failed(error: unknown): StorageUnavailable {
  return new StorageUnavailable('the database did not store the audit records', { cause: error });
}

/**
 * SQLite: one statement prepared once and run per row inside one transaction (better-sqlite3 runs
 * it synchronously, a few microseconds a row). Prisma's createMany compiles and prepares a new
 * statement for every batch size, which cost more than the signature on the token hot path
 * (docs/performance.md). The gate keeps it out of an interactive transaction open on the same
 * connection. Times are written as the Prisma adapter writes them (ISO 8601 with +00:00).
 */
export function createSqliteAuditInsert(database: BetterSqlite3.Database, gate: Gate): AuditBatchInsert {
  // Named parameters bind straight from the row object; only the time needs the adapter's text form.
  const insert = database.prepare(`INSERT INTO "AuditEvent" (${quoted}) VALUES (${AUDIT_COLUMNS.map((c) => `@${c}`).join(', ')})`);
  const insertAll = database.transaction((rows: readonly AuditRow[]) => {
    for (const row of rows) insert.run({ ...row, time: row.time.toISOString().replace('Z', '+00:00') });
  });
  return (records) => gate.run(async () => {
    try {
      insertAll(records.map(toAuditRow));
    } catch (error) {
      throw failed(error);
    }
  });
}

/**
 * PostgreSQL: one named (server-side prepared, once per connection) statement for any batch size,
 * the rows passed as one array per column and expanded by unnest. timestamp(3) is written as UTC
 * text, as Prisma writes it, so the session time zone cannot shift it.
 */
export function createPostgresAuditInsert(pool: pg.Pool): AuditBatchInsert {
  const types = AUDIT_COLUMNS.map((c) => (c === 'time' ? 'timestamp(3)[]' : 'text[]'));
  const text = `INSERT INTO "AuditEvent" (${quoted}) SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}`).join(', ')})`;
  return async (records) => {
    const rows = records.map(toAuditRow);
    const values = AUDIT_COLUMNS.map((c) => rows.map((row) => (c === 'time' ? row.time.toISOString().replace('T', ' ').replace('Z', '') : row[c])));
    try {
      await pool.query({ name: 'identity_audit_batch_insert', text, values });
    } catch (error) {
      throw failed(error);
    }
  };
}
