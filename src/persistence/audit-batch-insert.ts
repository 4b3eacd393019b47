import type BetterSqlite3 from 'better-sqlite3';
import type pg from 'pg';
import type { AuditRecord } from '../audit/audit-event.ts';
import { linkRows } from '../audit/audit-chain.ts';
import { StorageUnavailable } from '../shared/errors.ts';
import { AUDIT_COLUMNS, toAuditRow, type ChainedAuditRow } from './audit-row.ts';
import type { Gate } from './sqlite-gate.ts';

/** Stores a batch of audit records in one transaction, chained after the current head: all of them or none. */
export type AuditBatchInsert = (records: readonly AuditRecord[]) => Promise<void>;

const quoted = AUDIT_COLUMNS.map((c) => `"${c}"`).join(', ');

/**
 * Claims `n` positions: the head row's update takes its lock (PostgreSQL row lock, SQLite write
 * lock), which every other writer of the chain waits for until this transaction ends. RETURNING
 * gives the new last position and the hash before this batch, which is still the old one.
 */
const CLAIM = 'UPDATE "AuditChainHead" SET "seq" = "seq" + ? WHERE "id" = 1 RETURNING "seq", "hash"';
const SET_HEAD_HASH = 'UPDATE "AuditChainHead" SET "hash" = ? WHERE "id" = 1';

function failed(error: unknown): StorageUnavailable {
  return new StorageUnavailable('the database did not store the audit records', { cause: error });
}

function missingHead(): Error {
  return new Error('AuditChainHead has no row 1; the audit_chain migration was not applied');
}

/**
 * SQLite: statements prepared once and run inside one IMMEDIATE transaction (better-sqlite3 runs
 * it synchronously, a few microseconds a row; IMMEDIATE takes the write lock before the head is
 * read, so another process on the same file cannot claim the same positions). Prisma's createMany
 * compiles and prepares a new statement for every batch size, which cost more than the signature
 * on the token hot path (docs/performance.md). The gate keeps it out of an interactive transaction
 * open on the same connection. Times are written as the Prisma adapter writes them (ISO 8601 with +00:00).
 */
export function createSqliteAuditInsert(database: BetterSqlite3.Database, gate: Gate): AuditBatchInsert {
  // Named parameters bind straight from the row object; only the time needs the adapter's text form.
  const insert = database.prepare(`INSERT INTO "AuditEvent" (${quoted}) VALUES (${AUDIT_COLUMNS.map((c) => `@${c}`).join(', ')})`);
  const claim = database.prepare(CLAIM);
  const setHeadHash = database.prepare(SET_HEAD_HASH);
  const insertAll = database.transaction((records: readonly AuditRecord[]) => {
    const head = claim.get(records.length) as { seq: number | bigint; hash: string } | undefined;
    if (!head) throw missingHead();
    const linked = linkRows(records.map(toAuditRow), BigInt(head.seq) - BigInt(records.length), head.hash);
    for (const row of linked.rows) insert.run({ ...row, time: row.time.toISOString().replace('Z', '+00:00') });
    setHeadHash.run(linked.head.hash);
  });
  return (records) => gate.run(async () => {
    try {
      insertAll.immediate(records);
    } catch (error) {
      throw failed(error);
    }
  });
}

/**
 * PostgreSQL: one transaction on one pooled connection: claim the positions (the head row's lock
 * serializes the chain across every instance), then one named statement for any batch size that
 * inserts the rows, passed as one array per column and expanded by unnest, and sets the head's
 * hash. timestamp(3) is written as UTC text, as Prisma writes it, so the session time zone cannot
 * shift it. Four round trips per batch, however many rows it holds.
 */
export function createPostgresAuditInsert(pool: pg.Pool): AuditBatchInsert {
  const types = AUDIT_COLUMNS.map((c) => (c === 'time' ? 'timestamp(3)[]' : c === 'seq' ? 'bigint[]' : 'text[]'));
  const hashParam = AUDIT_COLUMNS.length + 1;
  const text = `WITH "head" AS (UPDATE "AuditChainHead" SET "hash" = $${hashParam} WHERE "id" = 1)
    INSERT INTO "AuditEvent" (${quoted}) SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}`).join(', ')})`;
  const claim = 'UPDATE "AuditChainHead" SET "seq" = "seq" + $1 WHERE "id" = 1 RETURNING "seq"::text AS "seq", "hash"';
  return async (records) => {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw failed(error);
    }
    try {
      await client.query('BEGIN');
      const claimed = await client.query<{ seq: string; hash: string }>({ name: 'identity_audit_claim', text: claim, values: [records.length] });
      const head = claimed.rows[0];
      if (!head) throw missingHead();
      const linked = linkRows(records.map(toAuditRow), BigInt(head.seq) - BigInt(records.length), head.hash);
      const values: unknown[] = AUDIT_COLUMNS.map((c) => linked.rows.map((row: ChainedAuditRow) => (
        c === 'time' ? row.time.toISOString().replace('T', ' ').replace('Z', '') : c === 'seq' ? row.seq.toString() : row[c]
      )));
      values.push(linked.head.hash);
      await client.query({ name: 'identity_audit_batch_insert', text, values });
      await client.query('COMMIT');
      client.release();
    } catch (error) {
      // A connection whose transaction could not be rolled back is not returned to the pool.
      await client.query('ROLLBACK').then(() => client.release(), (e: unknown) => client.release(e as Error));
      throw failed(error);
    }
  };
}
