import type BetterSqlite3 from 'better-sqlite3';
import type pg from 'pg';
import type { AuditRecord } from '../audit/audit-event.ts';
import { chainedFieldsText, linkRows } from '../audit/audit-chain.ts';
import { StorageUnavailable } from '../shared/errors.ts';
import { AUDIT_COLUMNS, toAuditRow } from './audit-row.ts';
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
 * PostgreSQL: one statement, so one round trip and one commit per batch, however many rows it holds.
 * It locks the head row (FOR UPDATE: every other writer of the chain, on any instance, waits for this
 * statement's commit, and then reads the head this one left), numbers the rows after it, computes
 * each hash in the database with sha256() over the previous hash and the row's fields as
 * chainedFieldsText gives them (audit-chain.ts; the verifier recomputes the same bytes), inserts the
 * rows, and moves the head. The rows come as one array per column, expanded by unnest in order; a
 * batch of any size is the same named statement. timestamp(3) is written as UTC text, as Prisma writes
 * it, so the session time zone cannot shift it. Holding the head's lock for one statement instead of
 * a transaction of four round trips is what keeps the chain from serializing the hot path.
 */
export function createPostgresAuditInsert(pool: pg.Pool): AuditBatchInsert {
  const fields = AUDIT_COLUMNS.filter((c) => c !== 'seq' && c !== 'hash');
  const inputs = [...fields.map((c, i) => `$${i + 1}::${c === 'time' ? 'timestamp(3)' : 'text'}[]`), `$${fields.length + 1}::text[]`];
  const q = (c: string) => `"${c}"`;
  const text = `WITH RECURSIVE
    "head" AS (SELECT "seq", "hash" FROM "AuditChainHead" WHERE "id" = 1 FOR UPDATE),
    "input" AS (SELECT * FROM unnest(${inputs.join(', ')}) WITH ORDINALITY AS "t"(${[...fields, 'fieldsText', 'ord'].map(q).join(', ')})),
    "chain" ("ord", "seq", "hash") AS (
      SELECT 0::bigint, "seq", "hash" FROM "head"
      UNION ALL
      SELECT "c"."ord" + 1, "c"."seq" + 1,
        encode(sha256(convert_to("c"."hash" || E'\\n["' || ("c"."seq" + 1)::text || '",' || "i"."fieldsText", 'UTF8')), 'hex')
      FROM "chain" "c" JOIN "input" "i" ON "i"."ord" = "c"."ord" + 1
    ),
    "stored" AS (
      INSERT INTO "AuditEvent" (${quoted})
      SELECT ${fields.map((c) => `"i".${q(c)}`).join(', ')}, "c"."seq", "c"."hash" FROM "input" "i" JOIN "chain" "c" ON "c"."ord" = "i"."ord"
    )
    UPDATE "AuditChainHead" SET ("seq", "hash") = (SELECT "seq", "hash" FROM "chain" ORDER BY "ord" DESC LIMIT 1)
    WHERE "id" = 1 AND EXISTS (SELECT 1 FROM "head")
    RETURNING "seq"`;
  return async (records) => {
    const rows = records.map(toAuditRow);
    const values: unknown[] = fields.map((c) => rows.map((row) => (c === 'time' ? row.time.toISOString().replace('T', ' ').replace('Z', '') : row[c])));
    values.push(rows.map(chainedFieldsText));
    let result: pg.QueryResult;
    try {
      result = await pool.query({ name: 'identity_audit_append', text, values });
    } catch (error) {
      throw failed(error);
    }
    if (result.rowCount !== 1) throw failed(missingHead());
  };
}
