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

/** SHA-256 over the previous hash, the position and the fields, as hex. */
export function chainHash(previousHash: string, seq: bigint, row: ChainedFields): string {
  const fields = [
    seq.toString(), row.id, row.time.toISOString(), row.type, row.outcome, row.reason, row.clientId, row.authMethod, row.audience,
    row.scope, row.jti, row.kid, row.sourceAddress, row.requestId, row.details,
  ];
  return createHash('sha256').update(previousHash).update('\n').update(JSON.stringify(fields)).digest('hex');
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
