import type { TrustedIssuerRepository } from '../issuers/trusted-issuer-repository.ts';
import type { ExternalTokenAlg, NewTrustedIssuer, TrustedIssuer, TrustedIssuerChanges } from '../issuers/trusted-issuer.ts';
import type { TrustedIssuer as TrustedIssuerRow } from '../generated/prisma/postgresql/client.ts';
import { ValidationFailed } from '../shared/errors.ts';
import type { ChangeRecorder } from '../shared/unit-of-work.ts';
import type { DbTransaction } from './prisma-client.ts';
import { translateErrors } from './prisma-errors.ts';

function toTrustedIssuer(row: TrustedIssuerRow): TrustedIssuer {
  return {
    id: row.id,
    issuer: row.issuer,
    jwksUri: row.jwksUri,
    jwks: row.jwks === null ? null : JSON.parse(row.jwks),
    audiences: JSON.parse(row.audiences) as string[],
    algorithms: row.algorithms.split(' ') as ExternalTokenAlg[],
    subjectClaim: row.subjectClaim,
    maxTokenAge: row.maxTokenAge,
    description: row.description,
    disabled: row.disabled,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function toRow(changes: TrustedIssuerChanges) {
  const row = {
    jwksUri: changes.jwksUri,
    jwks: changes.jwks === undefined ? undefined : changes.jwks && JSON.stringify(changes.jwks),
    audiences: changes.audiences && JSON.stringify(changes.audiences),
    algorithms: changes.algorithms?.join(' '),
    subjectClaim: changes.subjectClaim,
    maxTokenAge: changes.maxTokenAge,
    description: changes.description,
    disabled: changes.disabled,
  };
  return Object.fromEntries(Object.entries(row).filter(([, v]) => v !== undefined));
}

/** Cursors are the last id of a page, base64url-encoded so callers treat them as opaque. */
function decodeCursor(cursor: string): string {
  const id = /^[A-Za-z0-9_-]{1,200}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  if (!id || !/^[\x21-\x7e]+$/.test(id)) throw new ValidationFailed([{ name: 'cursor', reason: 'not a cursor this service issued' }]);
  return id;
}

export function createPrismaTrustedIssuerRepository(db: DbTransaction, changes: ChangeRecorder): TrustedIssuerRepository {
  /** Every write tells the registries of every instance to reload, once it commits. */
  const changed = () => changes.record({ kind: 'issuers' });
  return {
    findById: (id) => translateErrors(async () => {
      const row = await db.trustedIssuer.findUnique({ where: { id } });
      return row ? toTrustedIssuer(row) : undefined;
    }),

    findByIssuer: (issuer) => translateErrors(async () => {
      const row = await db.trustedIssuer.findUnique({ where: { issuer } });
      return row ? toTrustedIssuer(row) : undefined;
    }),

    listAll: () => translateErrors(async () => (await db.trustedIssuer.findMany({ orderBy: { id: 'asc' } })).map(toTrustedIssuer)),

    insert: (issuer: NewTrustedIssuer) => translateErrors(async () => {
      const row = await db.trustedIssuer.create({
        data: { id: issuer.id, issuer: issuer.issuer, ...(toRow(issuer) as Omit<TrustedIssuerRow, 'id' | 'issuer' | 'createdAt' | 'updatedAt'>) },
      });
      changed();
      return toTrustedIssuer(row);
    }),

    update: (id, fields) => translateErrors(async () => {
      const row = await db.trustedIssuer.update({ where: { id }, data: toRow(fields) });
      changed();
      return toTrustedIssuer(row);
    }),

    delete: (id) => translateErrors(async () => {
      const deleted = (await db.trustedIssuer.deleteMany({ where: { id } })).count > 0;
      if (deleted) changed();
      return deleted;
    }),

    list: ({ limit, cursor }, filter = {}) => translateErrors(async () => {
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      const rows = await db.trustedIssuer.findMany({
        where: { ...(after !== undefined && { id: { gt: after } }), ...(filter.issuer !== undefined && { issuer: filter.issuer }) },
        orderBy: { id: 'asc' },
        take: limit + 1,
      });
      const items = rows.slice(0, limit).map(toTrustedIssuer);
      const nextCursor = rows.length > limit ? Buffer.from(items.at(-1)!.id, 'utf8').toString('base64url') : null;
      return { items, nextCursor };
    }),
  };
}
