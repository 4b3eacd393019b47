import type { ClientRepository } from '../clients/client-repository.ts';
import { identityKey, type Client, type ClientChanges, type NewClient } from '../clients/client.ts';
import { ValidationFailed } from '../shared/errors.ts';
import type { Client as ClientRow } from '../generated/prisma/postgresql/client.ts';
import type { ChangeRecorder } from '../shared/unit-of-work.ts';
import type { DbTransaction } from './prisma-client.ts';
import { translateErrors } from './prisma-errors.ts';

function toClient(row: ClientRow): Client {
  return {
    clientId: row.id,
    clientName: row.clientName,
    tokenEndpointAuthMethod: row.tokenEndpointAuthMethod,
    grantTypes: row.grantTypes === '' ? [] : row.grantTypes.split(' '),
    scopes: row.scope === '' ? [] : row.scope.split(' '),
    audience: JSON.parse(row.audience) as string[],
    accessTokenTtl: row.accessTokenTtl,
    tokenQuotaPerHour: row.tokenQuotaPerHour,
    tokenQuotaPerDay: row.tokenQuotaPerDay,
    subject: row.subject,
    jwks: row.jwks === null ? null : JSON.parse(row.jwks),
    jwksUri: row.jwksUri,
    tokenEndpointAuthSigningAlg: row.tokenEndpointAuthSigningAlg,
    tlsClientAuth: {
      subjectDn: row.tlsClientAuthSubjectDn,
      sanDns: row.tlsClientAuthSanDns,
      sanUri: row.tlsClientAuthSanUri,
      sanIp: row.tlsClientAuthSanIp,
      sanEmail: row.tlsClientAuthSanEmail,
    },
    tokenExchange: row.tokenExchange === null ? null : JSON.parse(row.tokenExchange),
    introspection: row.introspection,
    federatedCredential: row.federatedCredential === null ? null : JSON.parse(row.federatedCredential),
    disabled: row.disabled,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function toRow(changes: ClientChanges) {
  const tls = changes.tlsClientAuth;
  const row = {
    clientName: changes.clientName,
    tokenEndpointAuthMethod: changes.tokenEndpointAuthMethod,
    grantTypes: changes.grantTypes?.join(' '),
    scope: changes.scopes?.join(' '),
    audience: changes.audience && JSON.stringify(changes.audience),
    accessTokenTtl: changes.accessTokenTtl,
    tokenQuotaPerHour: changes.tokenQuotaPerHour,
    tokenQuotaPerDay: changes.tokenQuotaPerDay,
    subject: changes.subject,
    jwks: changes.jwks === undefined ? undefined : changes.jwks && JSON.stringify(changes.jwks),
    jwksUri: changes.jwksUri,
    tokenEndpointAuthSigningAlg: changes.tokenEndpointAuthSigningAlg,
    tlsClientAuthSubjectDn: tls?.subjectDn,
    tlsClientAuthSanDns: tls?.sanDns,
    tlsClientAuthSanUri: tls?.sanUri,
    tlsClientAuthSanIp: tls?.sanIp,
    tlsClientAuthSanEmail: tls?.sanEmail,
    tokenExchange: changes.tokenExchange === undefined ? undefined : changes.tokenExchange && JSON.stringify(changes.tokenExchange),
    introspection: changes.introspection,
    federatedCredential: changes.federatedCredential === undefined ? undefined : changes.federatedCredential && JSON.stringify(changes.federatedCredential),
    disabled: changes.disabled,
  };
  return Object.fromEntries(Object.entries(row).filter(([, v]) => v !== undefined));
}

function toCredentialsRecord(row: ClientRow & { secrets: Array<{ id: string; hash: string; expiresAt: Date | null }> }) {
  const { secrets, ...client } = row;
  return { client: toClient(client), secrets: secrets.map((s) => ({ id: s.id, hash: s.hash, expiresAt: s.expiresAt })) };
}

/** Cursors are the last id of a page, base64url-encoded so callers treat them as opaque. */
function decodeCursor(cursor: string): string {
  const id = /^[A-Za-z0-9_-]{1,200}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  if (!id || !/^[\x21-\x7e]+$/.test(id)) throw new ValidationFailed([{ name: 'cursor', reason: 'not a cursor this service issued' }]);
  return id;
}

export function createPrismaClientRepository(db: DbTransaction, changes: ChangeRecorder): ClientRepository {
  /** Every write says which client it changed, so in-memory views drop it once the write commits. */
  const changed = (clientId: string) => changes.record({ kind: 'client', clientId });
  return {
    findForAuthentication: (clientId) =>
      translateErrors(async () => {
        const row = await db.client.findUnique({
          where: { id: clientId },
          include: { secrets: true },
        });
        return row ? toCredentialsRecord(row) : undefined;
      }),

    listForAuthentication: (limit) =>
      translateErrors(async () => (await db.client.findMany({ include: { secrets: true }, orderBy: { id: 'asc' }, take: limit })).map(toCredentialsRecord)),

    findById: (clientId) =>
      translateErrors(async () => {
        const row = await db.client.findUnique({ where: { id: clientId } });
        return row ? toClient(row) : undefined;
      }),

    insert: (client: NewClient, secret) =>
      translateErrors(async () => {
        const row = await db.client.create({
          data: {
            id: client.clientId,
            identityKey: identityKey(client.clientId),
            ...(toRow(client) as Omit<ClientRow, 'id' | 'identityKey' | 'createdAt' | 'updatedAt'>),
            ...(secret && { secrets: { create: { id: secret.id, hash: secret.hash, expiresAt: secret.expiresAt } } }),
          },
        });
        changed(client.clientId);
        return toClient(row);
      }),

    update: (clientId, fields) =>
      translateErrors(async () => {
        const row = await db.client.update({ where: { id: clientId }, data: toRow(fields) });
        changed(clientId);
        return toClient(row);
      }),

    delete: (clientId) =>
      translateErrors(async () => {
        const deleted = (await db.client.deleteMany({ where: { id: clientId } })).count > 0;
        if (deleted) changed(clientId);
        return deleted;
      }),

    list: ({ limit, cursor }) =>
      translateErrors(async () => {
        const after = cursor === undefined ? undefined : decodeCursor(cursor);
        const rows = await db.client.findMany({
          where: after === undefined ? {} : { id: { gt: after } },
          orderBy: { id: 'asc' },
          take: limit + 1,
        });
        const items = rows.slice(0, limit).map(toClient);
        const nextCursor = rows.length > limit ? Buffer.from(items.at(-1)!.clientId, 'utf8').toString('base64url') : null;
        return { items, nextCursor };
      }),

    count: () => translateErrors(() => db.client.count()),

    replaceSecret: (clientId, secret, previousExpiresAt, now) =>
      translateErrors(async () => {
        await db.clientSecret.deleteMany({ where: { clientId, expiresAt: { lte: now } } });
        if (previousExpiresAt === undefined) {
          await db.clientSecret.deleteMany({ where: { clientId } });
        } else {
          // Secrets still in an earlier grace period keep their own, earlier expiry.
          await db.clientSecret.updateMany({ where: { clientId, expiresAt: null }, data: { expiresAt: previousExpiresAt } });
          await db.clientSecret.updateMany({ where: { clientId, expiresAt: { gt: previousExpiresAt } }, data: { expiresAt: previousExpiresAt } });
        }
        await db.clientSecret.create({ data: { id: secret.id, clientId, hash: secret.hash, expiresAt: secret.expiresAt } });
        changed(clientId);
      }),

    removeSecrets: (clientId) =>
      translateErrors(async () => {
        const { count } = await db.clientSecret.deleteMany({ where: { clientId } });
        if (count > 0) changed(clientId);
        return count;
      }),

    replaceSecretHash: (clientId, secretId, from, to) =>
      translateErrors(async () => {
        const { count } = await db.clientSecret.updateMany({ where: { id: secretId, clientId, hash: from }, data: { hash: to } });
        if (count > 0) changed(clientId);
        return count > 0;
      }),

    listSecretHashes: (prefix) =>
      translateErrors(() => db.clientSecret.findMany({
        ...(prefix !== undefined && { where: { hash: { startsWith: prefix } } }),
        select: { id: true, clientId: true, hash: true, expiresAt: true },
        orderBy: { id: 'asc' },
      })),
  };
}
