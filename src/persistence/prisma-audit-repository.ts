import type { AuditEventType, AuditFilter, AuditOutcome, StoredAuditEvent } from '../audit/audit-event.ts';
import type { AuditRepository } from '../audit/audit-repository.ts';
import { ValidationFailed } from '../shared/errors.ts';
import type { AuditEvent as AuditRow } from '../generated/prisma/postgresql/client.ts';
import type { DbTransaction } from './prisma-client.ts';
import { translateErrors } from './prisma-errors.ts';
import { toAuditRow } from './audit-row.ts';
import { linkRows } from '../audit/audit-chain.ts';
import type { AuditRecord } from '../audit/audit-event.ts';

/**
 * Stores records chained after the head, inside the caller's transaction: the head update takes
 * the chain's lock until that transaction ends (docs/audit.md). The count is a number this code
 * made, so it is written into the statement (the two providers' raw placeholders differ).
 */
export async function appendChained(tx: DbTransaction, records: readonly AuditRecord[]): Promise<void> {
  if (records.length === 0) return;
  const n = Math.trunc(records.length);
  const claimed = await tx.$queryRawUnsafe<Array<{ seq: bigint | number | string; hash: string }>>(
    `UPDATE "AuditChainHead" SET "seq" = "seq" + ${n} WHERE "id" = 1 RETURNING "seq", "hash"`,
  );
  const head = claimed[0];
  if (!head) throw new Error('AuditChainHead has no row 1; the audit_chain migration was not applied');
  const linked = linkRows(records.map(toAuditRow), BigInt(head.seq) - BigInt(n), head.hash);
  await tx.auditEvent.createMany({ data: linked.rows });
  await tx.auditChainHead.update({ where: { id: 1 }, data: { hash: linked.head.hash } });
}

export function toEvent(row: AuditRow): StoredAuditEvent {
  return {
    id: row.id,
    time: row.time,
    type: row.type as AuditEventType,
    outcome: row.outcome as AuditOutcome,
    reason: row.reason ?? undefined,
    clientId: row.clientId ?? undefined,
    authMethod: row.authMethod ?? undefined,
    audience: row.audience === null ? undefined : (JSON.parse(row.audience) as string[]),
    scope: row.scope ?? undefined,
    jti: row.jti ?? undefined,
    kid: row.kid ?? undefined,
    sourceAddress: row.sourceAddress ?? undefined,
    requestId: row.requestId ?? undefined,
    details: row.details === null ? undefined : (JSON.parse(row.details) as Record<string, unknown>),
  };
}

/**
 * The filter as a Prisma condition. audience is stored as a JSON array, so one audience is the
 * JSON string it would be inside it (quotes included: "https://a" never matches "https://ab").
 * Prisma's contains is a LIKE that escapes nothing (and is case-insensitive on SQLite), so it may
 * match more rows, never fewer: list() keeps only the rows that really name the audience.
 */
export function auditWhere(filter: AuditFilter) {
  return {
    ...(filter.clientId !== undefined && { clientId: filter.clientId }),
    ...(filter.type !== undefined && { type: filter.type }),
    ...(filter.outcome !== undefined && { outcome: filter.outcome }),
    ...((filter.since || filter.until) && { time: { ...(filter.since && { gte: filter.since }), ...(filter.until && { lte: filter.until }) } }),
    ...(filter.audience !== undefined && { audience: { contains: JSON.stringify(filter.audience) } }),
    ...(filter.authMethod !== undefined && { authMethod: filter.authMethod }),
    ...(filter.reason !== undefined && { reason: filter.reason }),
    ...(filter.jti !== undefined && { jti: filter.jti }),
    ...(filter.requestId !== undefined && { requestId: filter.requestId }),
  };
}

function names(audience: string | null, one: string): boolean {
  return audience !== null && (JSON.parse(audience) as string[]).includes(one);
}

/** The filter as a test of one row, for reads that go by chain position. */
function matcher(filter: AuditFilter): (row: AuditRow) => boolean {
  return (row) => (filter.clientId === undefined || row.clientId === filter.clientId)
    && (filter.type === undefined || row.type === filter.type)
    && (filter.outcome === undefined || row.outcome === filter.outcome)
    && (filter.since === undefined || row.time >= filter.since)
    && (filter.until === undefined || row.time <= filter.until)
    && (filter.audience === undefined || names(row.audience, filter.audience))
    && (filter.authMethod === undefined || row.authMethod === filter.authMethod)
    && (filter.reason === undefined || row.reason === filter.reason)
    && (filter.jti === undefined || row.jti === filter.jti)
    && (filter.requestId === undefined || row.requestId === filter.requestId);
}

/** Cursors are event ids (ULIDs): the page continues below that id. */
function decodeCursor(cursor: string): string {
  if (!/^[0-9A-HJKMNP-TV-Z]{26}$/.test(cursor)) throw new ValidationFailed([{ name: 'cursor', reason: 'not a cursor this service issued' }]);
  return cursor;
}

/**
 * `write` stores records: in a unit-of-work transaction it holds them until the work is done and
 * chains them just before the commit, so the chain's lock is the last one the transaction takes
 * (no lock-order deadlock with a client or key row) and is held for the shortest time.
 */
export function createPrismaAuditRepository(db: DbTransaction, write: (records: readonly AuditRecord[]) => Promise<void>): AuditRepository {
  return {
    append: (record) => write([record]),
    appendMany: (records) => write(records),

    list: (filter, { limit, cursor }) =>
      translateErrors(async () => {
        const where = auditWhere(filter);
        const exact = filter.audience === undefined ? () => true : (row: AuditRow) => names(row.audience, filter.audience!);
        // audience's LIKE can match more than it should (see auditWhere): those rows are dropped
        // here and the scan continues below them until the page is full or the rows run out.
        const items: StoredAuditEvent[] = [];
        let below = cursor === undefined ? undefined : decodeCursor(cursor);
        for (;;) {
          const rows = await db.auditEvent.findMany({
            where: { ...where, ...(below !== undefined && { id: { lt: below } }) },
            orderBy: { id: 'desc' },
            take: limit + 1,
          });
          for (const row of rows) if (exact(row)) items.push(toEvent(row));
          if (items.length > limit || rows.length <= limit) break;
          below = rows.at(-1)!.id;
        }
        const page = items.slice(0, limit);
        return { items: page, nextCursor: items.length > limit ? page.at(-1)!.id : null };
      }),

    follow: (filter, position, limit) =>
      translateErrors(async () => {
        const head = await db.auditChainHead.findUnique({ where: { id: 1 }, select: { seq: true } });
        const upTo = head?.seq ?? position;
        if (upTo <= position) return { items: [], position };
        // Rows are scanned by position (not filtered in SQL) so the position moves on past events
        // the filter drops; up to the head read first, which every row below it has committed with.
        const rows = await db.auditEvent.findMany({ where: { seq: { gt: position, lte: upTo } }, orderBy: { seq: 'asc' }, take: limit });
        const keep = matcher(filter);
        return { items: rows.filter(keep).map(toEvent), position: rows.length < limit ? upTo : rows.at(-1)!.seq! };
      }),

    issuedPerClient: (since, limit) =>
      translateErrors(async () => {
        const groups = await db.auditEvent.groupBy({
          by: ['clientId'], where: { type: 'token.issued', time: { gte: since } }, _count: { _all: true }, orderBy: { _count: { clientId: 'desc' } }, take: limit,
        });
        return groups.filter((g) => g.clientId !== null).map((g) => ({ clientId: g.clientId!, tokens: g._count._all }));
      }),

    positionOf: (id) =>
      translateErrors(async () => {
        if (id === undefined) return (await db.auditChainHead.findUnique({ where: { id: 1 }, select: { seq: true } }))?.seq ?? 0n;
        return (await db.auditEvent.findUnique({ where: { id }, select: { seq: true } }))?.seq ?? undefined;
      }),
  };
}
