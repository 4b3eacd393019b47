import { createHash } from 'node:crypto';
import type { AuditRow } from '../persistence/audit-row.ts';

/** The hash before the first event: the chain's fixed starting point (the migration writes it). */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * The stored text of one event, as the chain hashes it. Every field is the column's own value
 * (JSON text for audience and details, as written), so a verifier recomputes the hash from a row
 * without re-serialising anything, and any change to any column changes the hash.
 */
export type ChainedFields = AuditRow;

/**
 * The hashed text of a row's fields after its position: the JSON array of them without its opening
 * bracket. The position is known only once a writer holds the chain's head, so a writer that hashes
 * inside the database (audit-batch-insert.ts, PostgreSQL) is handed this text and prepends it.
 */
export function chainedFieldsText(row: ChainedFields): string {
  const fields = [
    row.id, row.time.toISOString(), row.type, row.outcome, row.reason, row.clientId, row.authMethod, row.audience,
    row.scope, row.jti, row.kid, row.sourceAddress, row.requestId, row.details,
  ];
  return JSON.stringify(fields).slice(1);
}

/**
 * SHA-256, as hex, over the previous hash, a newline and the JSON array of the position (as a
 * string) and the fields: `<previous>\n["<seq>",<chainedFieldsText>`.
 */
export function chainHash(previousHash: string, seq: bigint, row: ChainedFields): string {
  return createHash('sha256').update(previousHash).update(`\n["${seq}",`).update(chainedFieldsText(row)).digest('hex');
}

/**
 * Gives rows the positions after `lastSeq`, each hash chained to the one before; returns the new
 * head. Called inside the transaction that claimed those positions, so nobody else holds them.
 */
export function linkRows<R extends ChainedFields>(rows: readonly R[], lastSeq: bigint, lastHash: string): { rows: Array<R & { seq: bigint; hash: string }>; head: { seq: bigint; hash: string } } {
  let seq = lastSeq;
  let hash = lastHash;
  const linked = rows.map((row) => {
    seq += 1n;
    hash = chainHash(hash, seq, row);
    return { ...row, seq, hash };
  });
  return { rows: linked, head: { seq, hash } };
}
