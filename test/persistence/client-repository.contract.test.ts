import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { AuditRecord, StoredAuditEvent } from '../../src/audit/audit-event.ts';
import type { AuditRepository } from '../../src/audit/audit-repository.ts';
import type { ClientRepository } from '../../src/clients/client-repository.ts';
import type { NewClient, StoredSecret } from '../../src/clients/client.ts';
import { parseDatabaseUrl, type DatabaseTarget } from '../../src/persistence/database-target.ts';
import { applyMigrations, loadMigrationList } from '../../src/persistence/migrations.ts';
import { openDatabase } from '../../src/persistence/prisma-client.ts';
import { schemaFor } from '../../src/persistence/prisma-schema.ts';
import { createPrismaUnitOfWork } from '../../src/persistence/prisma-unit-of-work.ts';
import { openSchemaEngine } from '../../src/persistence/schema-engine.ts';
import { Conflict, NotFound, ValidationFailed } from '../../src/shared/errors.ts';
import type { UnitOfWork } from '../../src/shared/unit-of-work.ts';
import { createTestDatabase, testDatabaseProvider, type TestDatabase } from '../helpers/test-database.ts';

/** What the contract suites need: the repositories under test, and transactions over them. */
export type RepositoryFixture = {
  clients: ClientRepository;
  audit: AuditRepository;
  transaction: UnitOfWork['transaction'];
};

/** Each test works on its own ids, so the suites can share one database. */
function uniqueId(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

function newClient(overrides: Partial<NewClient> = {}): NewClient {
  const clientId = overrides.clientId ?? uniqueId('client');
  return {
    clientId,
    clientName: 'contract client',
    tokenEndpointAuthMethod: 'client_secret_basic',
    grantTypes: ['client_credentials'],
    scopes: ['orders:read'],
    audience: ['https://orders.internal'],
    accessTokenTtl: null,
    tokenQuotaPerHour: null,
    tokenQuotaPerDay: null,
    subject: clientId,
    tokenEndpointAuthSigningAlg: null,
    jwks: null,
    jwksUri: null,
    tlsClientAuth: { subjectDn: null, sanDns: null, sanUri: null, sanIp: null, sanEmail: null },
    tokenExchange: null,
    introspection: false,
    federatedCredential: null,
    disabled: false,
    ...overrides,
  };
}

function secret(expiresAt: Date | null = null): StoredSecret {
  return { id: uniqueId('secret'), hash: `hmac-sha256.v1.${randomBytes(32).toString('base64url')}`, expiresAt };
}

/** The secrets of a client, in id order, as [id, expiresAt ms or null]. */
async function secretsOf(clients: ClientRepository, clientId: string): Promise<Array<[string, number | null]>> {
  const found = await clients.findForAuthentication(clientId);
  assert.ok(found, `${clientId} not found`);
  return found.secrets.map((s): [string, number | null] => [s.id, s.expiresAt?.getTime() ?? null]).sort(([a], [b]) => a.localeCompare(b));
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The ClientRepository contract (src/clients/client-repository.ts). */
export function clientRepositoryContract(fixture: () => RepositoryFixture): void {
  describe('ClientRepository contract', () => {
    it('inserts a client with its secret and finds it by id and for authentication', async () => {
      const { clients } = fixture();
      const client = newClient();
      const current = secret();
      const inserted = await clients.insert(client, current);
      assert.ok(inserted.createdAt instanceof Date && inserted.updatedAt instanceof Date);
      const { createdAt, updatedAt, ...rest } = inserted;
      assert.deepEqual(rest, client);
      assert.deepEqual(await clients.findById(client.clientId), inserted);
      assert.deepEqual(await clients.findForAuthentication(client.clientId), { client: inserted, secrets: [current] });
      assert.ok(Math.abs(createdAt.getTime() - Date.now()) < 60_000);
      assert.ok(updatedAt.getTime() >= createdAt.getTime());
    });

    it('stores every field as given: several audiences, no scopes, jwks, certificate subject, TTL, quotas, disabled', async () => {
      const { clients } = fixture();
      const client = newClient({
        clientName: 'Ünïcode name',
        tokenEndpointAuthMethod: 'private_key_jwt',
        scopes: [],
        audience: ['https://orders.internal', 'urn:example:billing'],
        accessTokenTtl: 600,
        tokenQuotaPerHour: 0,
        tokenQuotaPerDay: 1_000_000_000,
        subject: uniqueId('spiffe://cluster.local/ns/shop/sa/orders'),
        jwks: { keys: [{ kty: 'EC', crv: 'P-256', kid: 'e1', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }] },
        jwksUri: null,
        tlsClientAuth: { subjectDn: null, sanDns: null, sanUri: 'spiffe://cluster.local/ns/shop/sa/orders', sanIp: null, sanEmail: null },
        disabled: true,
      });
      await clients.insert(client, undefined);
      const found = await clients.findForAuthentication(client.clientId);
      assert.ok(found);
      const { createdAt, updatedAt, ...rest } = found.client;
      assert.deepEqual(rest, client);
      assert.deepEqual(found.secrets, []);
    });

    it('finds nothing for an unknown id', async () => {
      const { clients } = fixture();
      assert.equal(await clients.findById(uniqueId('unknown')), undefined);
      assert.equal(await clients.findForAuthentication(uniqueId('unknown')), undefined);
    });

    it('AD-05 throws Conflict for a duplicate id and leaves the first client as it was', async () => {
      const { clients } = fixture();
      const first = newClient();
      await clients.insert(first, secret());
      const before = await clients.count();
      await assert.rejects(clients.insert(newClient({ clientId: first.clientId, subject: uniqueId('other'), clientName: 'intruder' }), secret()), Conflict);
      assert.equal(await clients.count(), before);
      assert.equal((await clients.findById(first.clientId))?.clientName, 'contract client');
    });

    it('AD-05 throws Conflict for an id that differs only by case or compatibility form', async () => {
      const { clients } = fixture();
      const id = uniqueId('orders');
      await clients.insert(newClient({ clientId: id }), undefined);
      await assert.rejects(clients.insert(newClient({ clientId: id.toUpperCase() }), undefined), Conflict);
      // U+FF4F FULLWIDTH LATIN SMALL LETTER O: NFKC folds it to "o".
      await assert.rejects(clients.insert(newClient({ clientId: `\uff4f${id.slice(1)}` }), undefined), Conflict);
      assert.equal(await clients.findById(id.toUpperCase()), undefined);
    });

    it('AD-05 throws Conflict for a subject another client already has, as its subject or as its default', async () => {
      const { clients } = fixture();
      const a = newClient({ subject: uniqueId('svc') });
      await clients.insert(a, undefined);
      await assert.rejects(clients.insert(newClient({ subject: a.subject }), undefined), Conflict);
      // A client whose id (hence default subject) is another client's chosen subject.
      await assert.rejects(clients.insert(newClient({ clientId: a.subject }), undefined), Conflict);
    });

    it('updates the given fields only, and returns the client', async () => {
      const { clients } = fixture();
      const client = newClient({ accessTokenTtl: 300, tokenQuotaPerHour: 5 });
      const inserted = await clients.insert(client, undefined);
      await new Promise((resolve) => setTimeout(resolve, 5));
      const updated = await clients.update(client.clientId, { disabled: true, scopes: ['orders:read', 'orders:write'], accessTokenTtl: null, tokenQuotaPerHour: null, tokenQuotaPerDay: 7 });
      assert.equal(updated.disabled, true);
      assert.deepEqual(updated.scopes, ['orders:read', 'orders:write']);
      assert.equal(updated.accessTokenTtl, null);
      assert.equal(updated.tokenQuotaPerHour, null);
      assert.equal(updated.tokenQuotaPerDay, 7);
      assert.equal(updated.clientName, client.clientName);
      assert.deepEqual(updated.audience, client.audience);
      assert.equal(updated.createdAt.getTime(), inserted.createdAt.getTime());
      assert.ok(updated.updatedAt.getTime() > inserted.updatedAt.getTime());
      assert.deepEqual(await clients.findById(client.clientId), updated);
    });

    it('throws NotFound when updating an unknown id, and Conflict when taking another client\'s subject', async () => {
      const { clients } = fixture();
      await assert.rejects(clients.update(uniqueId('unknown'), { disabled: true }), NotFound);
      const a = newClient();
      const b = newClient();
      await clients.insert(a, undefined);
      await clients.insert(b, undefined);
      await assert.rejects(clients.update(b.clientId, { subject: a.subject }), Conflict);
      assert.equal((await clients.findById(b.clientId))?.subject, b.subject);
    });

    it('deletes a client with its secrets, and reports whether there was one', async () => {
      const { clients } = fixture();
      const client = newClient();
      await clients.insert(client, secret());
      assert.equal(await clients.delete(client.clientId), true);
      assert.equal(await clients.findById(client.clientId), undefined);
      assert.equal(await clients.findForAuthentication(client.clientId), undefined);
      assert.equal(await clients.delete(client.clientId), false);
      // The id is free again, and no orphaned secret comes back with it.
      await clients.insert(client, undefined);
      assert.deepEqual(await secretsOf(clients, client.clientId), []);
    });

    it('counts clients', async () => {
      const { clients } = fixture();
      const before = await clients.count();
      const a = newClient();
      await clients.insert(a, undefined);
      await clients.insert(newClient(), undefined);
      assert.equal(await clients.count(), before + 2);
      await clients.delete(a.clientId);
      assert.equal(await clients.count(), before + 1);
    });

    it('lists in id order, page by page, each client exactly once', async () => {
      const { clients } = fixture();
      const prefix = uniqueId('page');
      const ids = ['3', '0', '4', '1', '2'].map((n) => `${prefix}-${n}`);
      for (const id of ids) await clients.insert(newClient({ clientId: id }), undefined);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await clients.list({ limit: 2, cursor });
        assert.ok(page.items.length <= 2);
        if (page.nextCursor !== null) assert.equal(page.items.length, 2);
        seen.push(...page.items.map((c) => c.clientId));
        cursor = page.nextCursor ?? undefined;
        pages += 1;
        assert.ok(pages < 1000, 'paging ends');
      } while (cursor !== undefined);
      assert.deepEqual(seen, [...seen].sort(), 'ascending id order');
      assert.equal(new Set(seen).size, seen.length, 'no client twice');
      assert.equal(seen.length, await clients.count());
      assert.deepEqual(seen.filter((id) => id.startsWith(prefix)), [...ids].sort());
    });

    it('AD-06 throws ValidationFailed for a cursor it did not issue', async () => {
      const { clients } = fixture();
      for (const forged of ['not a cursor', '!!!', Buffer.from('\u0000\u0001', 'utf8').toString('base64url'), 'A'.repeat(10_000)]) {
        await assert.rejects(clients.list({ limit: 10, cursor: forged }), ValidationFailed, forged.slice(0, 20));
      }
    });

    it('replaces the secret at once when no grace period is given', async () => {
      const { clients } = fixture();
      const client = newClient();
      const old = secret();
      await clients.insert(client, old);
      const next = secret();
      await clients.replaceSecret(client.clientId, next, undefined, new Date());
      assert.deepEqual(await secretsOf(clients, client.clientId), [[next.id, null]]);
    });

    it('replaces one stored hash only while it is still the given one (re-hashing under another key-encryption key)', async () => {
      const { clients } = fixture();
      const client = newClient();
      const stored = secret(new Date(Date.now() + 60_000));
      await clients.insert(client, stored);
      const rehashed = `hmac-sha256.v2.AAAAAAAAAAAA.${randomBytes(32).toString('base64url')}`;
      assert.equal(await clients.replaceSecretHash(client.clientId, stored.id, `${stored.hash}x`, rehashed), false, 'not when the hash changed meanwhile');
      assert.equal(await clients.replaceSecretHash('someone-else', stored.id, stored.hash, rehashed), false, 'not through another client');
      assert.equal(await clients.replaceSecretHash(client.clientId, stored.id, stored.hash, rehashed), true);
      assert.equal(await clients.replaceSecretHash(client.clientId, stored.id, stored.hash, rehashed), false, 'a second writer finds it done');
      const found = await clients.findForAuthentication(client.clientId);
      assert.deepEqual(found!.secrets, [{ id: stored.id, hash: rehashed, expiresAt: stored.expiresAt }], 'the id and the expiry are kept');
      const listed = (await clients.listSecretHashes()).filter((s) => s.clientId === client.clientId);
      assert.deepEqual(listed, [{ id: stored.id, clientId: client.clientId, hash: rehashed, expiresAt: stored.expiresAt }]);
      assert.deepEqual((await clients.listSecretHashes('hmac-sha256.v2.AAAAAAAAAAAA.')).filter((s) => s.clientId === client.clientId).length, 1);
      assert.deepEqual((await clients.listSecretHashes('hmac-sha256.v1.')).filter((s) => s.clientId === client.clientId), []);
    });

    it('keeps the previous secrets until the grace period ends, never extending an earlier one, and drops expired ones', async () => {
      const { clients } = fixture();
      const client = newClient();
      const t0 = Date.now();
      const s0 = secret();
      await clients.insert(client, s0);
      const byId = (pairs: Array<[string, number | null]>) => pairs.sort(([a], [b]) => a.localeCompare(b));

      // Rotation 1 at t0 with 60 s of grace: s0 lives until t0+60.
      const s1 = secret();
      await clients.replaceSecret(client.clientId, s1, new Date(t0 + 60_000), new Date(t0));
      assert.deepEqual(await secretsOf(clients, client.clientId), byId([[s0.id, t0 + 60_000], [s1.id, null]]));

      // Rotation 2 at t0+10 with 110 s of grace: s1 until t0+120; s0 keeps its earlier t0+60.
      const s2 = secret();
      await clients.replaceSecret(client.clientId, s2, new Date(t0 + 120_000), new Date(t0 + 10_000));
      assert.deepEqual(await secretsOf(clients, client.clientId), byId([[s0.id, t0 + 60_000], [s1.id, t0 + 120_000], [s2.id, null]]));

      // Rotation 3 at t0+70 with 10 s of grace: s0 has expired and goes; s1 is cut back to t0+80.
      const s3 = secret();
      await clients.replaceSecret(client.clientId, s3, new Date(t0 + 80_000), new Date(t0 + 70_000));
      assert.deepEqual(await secretsOf(clients, client.clientId), byId([[s1.id, t0 + 80_000], [s2.id, t0 + 80_000], [s3.id, null]]));

      // Rotation 4 without grace: only the new secret remains.
      const s4 = secret();
      await clients.replaceSecret(client.clientId, s4, undefined, new Date(t0 + 75_000));
      assert.deepEqual(await secretsOf(clients, client.clientId), [[s4.id, null]]);
    });
  });
}

function auditRecord(overrides: Partial<AuditRecord> = {}): AuditRecord {
  return {
    type: 'token.issued',
    outcome: 'success',
    time: new Date(),
    clientId: uniqueId('audited'),
    authMethod: 'client_secret_basic',
    audience: ['https://orders.internal'],
    scope: 'orders:read',
    jti: randomBytes(16).toString('base64url'),
    kid: 'k-1',
    sourceAddress: '203.0.113.7',
    requestId: uniqueId('req'),
    details: { note: 'contract' },
    ...overrides,
  };
}

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** Pages through list() with `limit`, returning every page. */
async function allPages(audit: AuditRepository, filter: Parameters<AuditRepository['list']>[0], limit: number) {
  const pages: StoredAuditEvent[][] = [];
  let cursor: string | undefined;
  do {
    const page = await audit.list(filter, { limit, cursor });
    pages.push(page.items);
    cursor = page.nextCursor ?? undefined;
    assert.ok(pages.length < 1000, 'paging ends');
  } while (cursor !== undefined);
  return pages;
}

/** The AuditRepository contract (src/audit/audit-repository.ts). */
export function auditRepositoryContract(fixture: () => RepositoryFixture): void {
  describe('AuditRepository contract', () => {
    it('appends a record and lists it back with every field and a time-ordered id', async () => {
      const { audit } = fixture();
      const record = auditRecord({ type: 'token.denied', outcome: 'failure', reason: 'invalid_secret' });
      await audit.append(record);
      const { items, nextCursor } = await audit.list({ clientId: record.clientId }, { limit: 10 });
      assert.equal(items.length, 1);
      assert.equal(nextCursor, null);
      const { id, ...stored } = items[0]!;
      assert.match(id, ULID);
      assert.deepEqual(stored, record);
    });

    it('leaves unset optional fields unset', async () => {
      const { audit } = fixture();
      const clientId = uniqueId('sparse');
      await audit.append({ type: 'admin.denied', outcome: 'failure', time: new Date(), clientId });
      const [event] = (await audit.list({ clientId }, { limit: 10 })).items;
      assert.ok(event);
      const { id, ...rest } = withoutUndefined(event);
      assert.deepEqual(rest, { type: 'admin.denied', outcome: 'failure', time: event.time, clientId });
    });

    it('appends several records at once', async () => {
      const { audit } = fixture();
      const clientId = uniqueId('batch');
      const records = [0, 1, 2].map((i) => auditRecord({ clientId, jti: `jti-${i}` }));
      await audit.appendMany(records);
      const listed = (await audit.list({ clientId }, { limit: 10 })).items;
      assert.deepEqual(listed.map((e) => e.jti).sort(), ['jti-0', 'jti-1', 'jti-2']);
    });

    it('lists newest first and pages with cursors, each event exactly once', async () => {
      const { audit } = fixture();
      const clientId = uniqueId('paged');
      const t0 = Date.now();
      for (let i = 0; i < 5; i++) await audit.append(auditRecord({ clientId, jti: `jti-${i}`, time: new Date(t0 + i * 1000) }));
      const pages = await allPages(audit, { clientId }, 2);
      assert.deepEqual(pages.map((p) => p.map((e) => e.jti)), [['jti-4', 'jti-3'], ['jti-2', 'jti-1'], ['jti-0']]);
      const ids = pages.flat().map((e) => e.id);
      assert.deepEqual(ids, [...ids].sort().reverse(), 'ids descend');
    });

    it('filters by client, type, outcome and an inclusive time range', async () => {
      const { audit } = fixture();
      const clientId = uniqueId('filtered');
      const t0 = Date.now() + 10_000;
      const at = (s: number) => new Date(t0 + s * 1000);
      await audit.append(auditRecord({ clientId, jti: 'a', time: at(0) }));
      await audit.append(auditRecord({ clientId, jti: 'b', time: at(1), type: 'token.denied', outcome: 'failure', reason: 'invalid_secret' }));
      await audit.append(auditRecord({ clientId, jti: 'c', time: at(2) }));
      await audit.append(auditRecord({ clientId, jti: 'd', time: at(3), type: 'client.updated' }));
      await audit.append(auditRecord({ jti: 'other-client', time: at(2) }));
      const jtis = async (filter: Parameters<AuditRepository['list']>[0]) => (await audit.list(filter, { limit: 100 })).items.map((e) => e.jti);

      assert.deepEqual(await jtis({ clientId }), ['d', 'c', 'b', 'a']);
      assert.deepEqual(await jtis({ clientId, type: 'token.issued' }), ['c', 'a']);
      assert.deepEqual(await jtis({ clientId, outcome: 'failure' }), ['b']);
      assert.deepEqual(await jtis({ clientId, since: at(1) }), ['d', 'c', 'b']);
      assert.deepEqual(await jtis({ clientId, until: at(2) }), ['c', 'b', 'a']);
      assert.deepEqual(await jtis({ clientId, since: at(1), until: at(2) }), ['c', 'b']);
      assert.deepEqual(await jtis({ clientId, type: 'token.issued', outcome: 'success', since: at(1), until: at(3) }), ['c']);
      assert.deepEqual(await jtis({ clientId: uniqueId('nobody') }), []);
    });

    it('continues a filtered listing from its cursor', async () => {
      const { audit } = fixture();
      const clientId = uniqueId('filtered-pages');
      for (let i = 0; i < 4; i++) {
        await audit.append(auditRecord({ clientId, jti: `ok-${i}` }));
        await audit.append(auditRecord({ clientId, jti: `no-${i}`, type: 'token.denied', outcome: 'failure', reason: 'invalid_secret' }));
      }
      const pages = await allPages(audit, { clientId, type: 'token.denied' }, 3);
      assert.deepEqual(pages.map((p) => p.map((e) => e.jti)), [['no-3', 'no-2', 'no-1'], ['no-0']]);
    });

    it('AD-06 throws ValidationFailed for a cursor it did not issue', async () => {
      const { audit } = fixture();
      const real = (await audit.list({}, { limit: 1 })).items[0]?.id ?? '01JAAAAAAAAAAAAAAAAAAAAAAA';
      for (const forged of ['not-a-cursor', real.toLowerCase(), `${real}0`, real.replace(/.$/, 'U'), "' OR 1=1 --", 'Z'.repeat(10_000)]) {
        await assert.rejects(audit.list({}, { limit: 10, cursor: forged }), ValidationFailed, forged.slice(0, 30));
      }
    });
  });
}

/** Transactions over both repositories (src/shared/unit-of-work.ts): all or nothing. */
export function unitOfWorkContract(fixture: () => RepositoryFixture): void {
  describe('UnitOfWork contract', () => {
    it('commits a client and its audit record together', async () => {
      const { clients, audit, transaction } = fixture();
      const client = newClient();
      await transaction(async (stores) => {
        await stores.clients.insert(client, secret());
        await stores.audit.append(auditRecord({ type: 'client.created', clientId: client.clientId }));
      });
      assert.ok(await clients.findById(client.clientId));
      assert.equal((await audit.list({ clientId: client.clientId }, { limit: 10 })).items.length, 1);
    });

    it('leaves nothing behind when the work throws: neither the client nor its audit record', async () => {
      const { clients, audit, transaction } = fixture();
      const client = newClient();
      const abort = new Conflict('rolled back on purpose');
      await assert.rejects(transaction(async (stores) => {
        await stores.clients.insert(client, secret());
        await stores.audit.append(auditRecord({ type: 'client.created', clientId: client.clientId }));
        throw abort;
      }), (error: unknown) => error === abort);
      assert.equal(await clients.findById(client.clientId), undefined);
      assert.deepEqual((await audit.list({ clientId: client.clientId }, { limit: 10 })).items, []);
    });

    it('rolls back earlier writes when a later one conflicts', async () => {
      const { clients, audit, transaction } = fixture();
      const existing = newClient();
      await clients.insert(existing, undefined);
      const fresh = newClient();
      await assert.rejects(transaction(async (stores) => {
        await stores.clients.insert(fresh, secret());
        await stores.audit.append(auditRecord({ type: 'client.created', clientId: fresh.clientId }));
        await stores.clients.insert(newClient({ clientId: existing.clientId.toUpperCase() }), undefined);
      }), Conflict);
      assert.equal(await clients.findById(fresh.clientId), undefined);
      assert.deepEqual((await audit.list({ clientId: fresh.clientId }, { limit: 10 })).items, []);
      assert.ok(await clients.findById(existing.clientId));
    });

    it('does not roll back a plain write issued while a transaction is open', async () => {
      const { clients, audit, transaction } = fixture();
      const client = newClient();
      const outsideClientId = uniqueId('outside');
      let opened!: () => void;
      const transactionOpen = new Promise<void>((resolve) => { opened = resolve; });
      const abort = new Conflict('rolled back on purpose');

      const rolledBack = transaction(async (stores) => {
        await stores.clients.insert(client, undefined);
        await stores.audit.append(auditRecord({ type: 'client.created', clientId: client.clientId }));
        opened();
        // Stay open across awaits, long enough for the plain write below to reach the database
        // if nothing kept it out of this transaction (one SQLite connection serves both).
        await new Promise((resolve) => setTimeout(resolve, 100));
        throw abort;
      });
      // Outside the transaction's async context, as a concurrent request would be.
      await transactionOpen;
      const plain = audit.append(auditRecord({ type: 'token.issued', clientId: outsideClientId }));

      await assert.rejects(rolledBack, (error: unknown) => error === abort);
      await plain;
      assert.equal((await audit.list({ clientId: outsideClientId }, { limit: 10 })).items.length, 1, 'the plain write survived');
      assert.equal(await clients.findById(client.clientId), undefined);
      assert.deepEqual((await audit.list({ clientId: client.clientId }, { limit: 10 })).items, []);
    });
  });
}

const provider = testDatabaseProvider();

describe(`Prisma repositories on ${provider}`, () => {
  let database: TestDatabase;
  let target: DatabaseTarget;
  let uow: UnitOfWork | undefined;
  let fixture: RepositoryFixture;

  before(async () => {
    database = await createTestDatabase();
    target = parseDatabaseUrl(database.url)!;
    await applyMigrations(target);
    uow = createPrismaUnitOfWork(await openDatabase(target), target);
    fixture = { clients: uow.stores.clients, audit: uow.stores.audit, transaction: uow.transaction };
  });
  after(async () => {
    await uow?.close();
    await database?.drop();
  });

  clientRepositoryContract(() => fixture);
  auditRepositoryContract(() => fixture);
  unitOfWorkContract(() => fixture);
});

const noFilters = { externalTables: [], externalEnums: [] };
const schemaFiles = () => [{ path: 'schema.prisma', content: schemaFor(provider) }];

/** The shape of a PostgreSQL database as its catalogs describe it, Prisma's own bookkeeping table aside. */
async function postgresCatalog(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const rows = async (sql: string) => (await client.query(sql)).rows;
    return {
      columns: await rows(`
        SELECT table_name, column_name, data_type, datetime_precision, is_nullable, column_default
        FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'
        ORDER BY table_name, column_name`),
      indexes: await rows(`
        SELECT tablename, indexname, indexdef
        FROM pg_indexes
        WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'
        ORDER BY indexname`),
      // NOT NULL checks are left out: their names embed object ids, and the columns cover them.
      constraints: await rows(`
        SELECT tc.table_name, tc.constraint_name, tc.constraint_type, kcu.column_name, kcu.ordinal_position,
               rc.update_rule, rc.delete_rule
        FROM information_schema.table_constraints tc
        LEFT JOIN information_schema.key_column_usage kcu
          ON kcu.constraint_schema = tc.constraint_schema AND kcu.constraint_name = tc.constraint_name AND kcu.table_name = tc.table_name
        LEFT JOIN information_schema.referential_constraints rc
          ON rc.constraint_schema = tc.constraint_schema AND rc.constraint_name = tc.constraint_name
        WHERE tc.table_schema = 'public' AND tc.table_name <> '_prisma_migrations' AND tc.constraint_name NOT LIKE '%_not_null'
        ORDER BY tc.table_name, tc.constraint_name, kcu.ordinal_position`),
    };
  } finally {
    await client.end();
  }
}

describe(`Prisma migrations on ${provider}`, () => {
  let database: TestDatabase;
  let target: DatabaseTarget;
  let applied: string[];
  const cleanup: Array<() => Promise<void>> = [];

  before(async () => {
    database = await createTestDatabase();
    cleanup.push(() => database.drop());
    target = parseDatabaseUrl(database.url)!;
    applied = await applyMigrations(target);
  });
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('applies every committed migration to an empty database, and nothing the second time', async () => {
    assert.deepEqual(applied, loadMigrationList(target).migrationDirectories.map((d) => d.path));
    assert.ok(applied.length > 0);
    assert.deepEqual(await applyMigrations(target), []);
  });

  it('leaves the database exactly as schema.prisma describes it (no drift)', async () => {
    if (target.provider === 'sqlite') {
      const configDir = mkdtempSync(path.join(tmpdir(), 'idb-drift-'));
      cleanup.push(async () => rmSync(configDir, { recursive: true, force: true }));
      const { engine, close } = await openSchemaEngine(target, schemaFor('sqlite'));
      try {
        const result = await engine.diff({
          from: { tag: 'schemaDatasource', files: schemaFiles(), configDir },
          to: { tag: 'schemaDatamodel', files: schemaFiles() },
          script: true,
          exitCode: null,
          filters: noFilters,
        });
        assert.equal((result.stdout ?? '').trim(), '-- This is an empty migration.');
      } finally {
        await close();
      }
      return;
    }
    // The engine cannot introspect PostgreSQL through the pg adapter, so build a second database
    // straight from schema.prisma and compare the two through the catalogs.
    const reference = await createTestDatabase();
    cleanup.push(() => reference.drop());
    const referenceTarget = parseDatabaseUrl(reference.url)!;
    const { engine, close } = await openSchemaEngine(referenceTarget, schemaFor('postgresql'));
    let script: string;
    try {
      script = (await engine.diff({
        from: { tag: 'empty' },
        to: { tag: 'schemaDatamodel', files: schemaFiles() },
        script: true,
        exitCode: null,
        filters: noFilters,
      })).stdout ?? '';
    } finally {
      await close();
    }
    assert.match(script, /CREATE TABLE "Client"/);
    const client = new pg.Client({ connectionString: reference.url });
    await client.connect();
    try {
      await client.query(script);
    } finally {
      await client.end();
    }
    const [migrated, described] = await Promise.all([postgresCatalog(database.url), postgresCatalog(reference.url)]);
    assert.ok(migrated.columns.length > 0 && migrated.indexes.length > 0 && migrated.constraints.length > 0);
    assert.deepEqual(migrated.columns, described.columns);
    assert.deepEqual(migrated.indexes, described.indexes);
    assert.deepEqual(migrated.constraints, described.constraints);
  });
});
