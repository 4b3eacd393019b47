import type { AuditEventType, AuditOutcome, StoredAuditEvent } from '../audit/audit-event.ts';
import type { AuditRepository } from '../audit/audit-repository.ts';
import { ValidationFailed } from '../shared/errors.ts';
import type { AuditEvent as AuditRow } from '../generated/prisma/postgresql/client.ts';
import type { DbTransaction } from './prisma-client.ts';
import { translateErrors } from './prisma-errors.ts';
import { toAuditRow } from './audit-row.ts';

function toEvent(row: AuditRow): StoredAuditEvent {
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

/** Cursors are event ids (ULIDs): the page continues below that id. */
function decodeCursor(cursor: string): string {
  if (!/^[0-9A-HJKMNP-TV-Z]{26}$/.test(cursor)) throw new ValidationFailed([{ name: 'cursor', reason: 'not a cursor this service issued' }]);
  return cursor;
}

export function createPrismaAuditRepository(db: DbTransaction): AuditRepository {
  return {
    append: (record) =>
      translateErrors(async () => {
        await db.auditEvent.create({ data: toAuditRow(record), select: { id: true } });
      }),

    appendMany: (records) =>
      translateErrors(async () => {
        await db.auditEvent.createMany({ data: records.map(toAuditRow) });
      }),

    list: (filter, { limit, cursor }) =>
      translateErrors(async () => {
        const rows = await db.auditEvent.findMany({
          where: {
            ...(filter.clientId !== undefined && { clientId: filter.clientId }),
            ...(filter.type !== undefined && { type: filter.type }),
            ...(filter.outcome !== undefined && { outcome: filter.outcome }),
            ...((filter.since || filter.until) && { time: { ...(filter.since && { gte: filter.since }), ...(filter.until && { lte: filter.until }) } }),
            ...(cursor !== undefined && { id: { lt: decodeCursor(cursor) } }),
          },
          orderBy: { id: 'desc' },
          take: limit + 1,
        });
        const items = rows.slice(0, limit).map(toEvent);
        return { items, nextCursor: rows.length > limit ? items.at(-1)!.id : null };
      }),
  };
}
