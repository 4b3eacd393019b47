import type { AuditRecord } from '../audit/audit-event.ts';
import { timeOrderedId } from '../shared/ids.ts';

/**
 * The AuditEvent columns of schema.prisma, in one order, for the statements that write them
 * without Prisma Client (audit-batch-insert.ts). test/persistence/hot-path-statements.contract.test.ts
 * checks this list against the generated model, so a column added to the schema fails the test
 * until it is written here too.
 */
export const AUDIT_COLUMNS = [
  'id', 'time', 'type', 'outcome', 'reason', 'clientId', 'authMethod', 'audience', 'scope', 'jti', 'kid',
  'sourceAddress', 'requestId', 'details', 'seq', 'hash',
] as const;

export type AuditRow = {
  id: string;
  time: Date;
  type: string;
  outcome: string;
  reason: string | null;
  clientId: string | null;
  authMethod: string | null;
  audience: string | null;
  scope: string | null;
  jti: string | null;
  kid: string | null;
  sourceAddress: string | null;
  requestId: string | null;
  details: string | null;
};

/** A row with its place in the chain (audit-chain.ts), as it is stored. */
export type ChainedAuditRow = AuditRow & { seq: bigint; hash: string };

/** A record as its row: a new time-ordered id, JSON for the list and object fields. */
export function toAuditRow(record: AuditRecord): AuditRow {
  return {
    id: record.id ?? timeOrderedId(record.time.getTime()),
    time: record.time,
    type: record.type,
    outcome: record.outcome,
    reason: record.reason ?? null,
    clientId: record.clientId ?? null,
    authMethod: record.authMethod ?? null,
    audience: record.audience ? JSON.stringify(record.audience) : null,
    scope: record.scope ?? null,
    jti: record.jti ?? null,
    kid: record.kid ?? null,
    sourceAddress: record.sourceAddress ?? null,
    requestId: record.requestId ?? null,
    details: record.details ? JSON.stringify(record.details) : null,
  };
}
