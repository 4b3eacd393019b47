import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { compactVerify, createLocalJWKSet, decodeProtectedHeader } from 'jose';
import { chainHash } from '../../src/audit/audit-chain.ts';
import { verifyAuditChain, type AuditVerification, type VerifyProgress } from '../../src/audit/verify-audit-chain.ts';
import { parseDatabaseUrl } from '../../src/persistence/database-target.ts';
import { openDatabase, closeDatabase, type OpenedDatabase } from '../../src/persistence/prisma-client.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyMigrations } from '../../src/persistence/migrations.ts';
import { expectMatchesOpenApi } from '../helpers/openapi.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';
import { rawSql } from '../helpers/raw-sql.ts';
import { startTestService, type TestService } from '../helpers/start-app.ts';

type Row = Record<string, unknown> & { id: string; seq: string | number; hash: string };

describe(`audit chain: tamper evidence, checkpoints and verify (${process.env.DATABASE_URL?.startsWith('postgres') ? 'postgresql' : 'sqlite'})`, () => {
  let t: TestService;
  let admin: string;
  let direct: OpenedDatabase;

  async function verifyApi(): Promise<{ intact: boolean; events_checked: number; checkpoints_checked: number; first_mismatch: null | { event_id: string | null; problem: string; description: string } }> {
    const res = await t.agent.post('/admin/audit/verify').set('authorization', admin);
    assert.equal(res.status, 200, res.text);
    expectMatchesOpenApi(res, 'POST', '/admin/audit/verify');
    return res.body;
  }
  /** The command line's path: the function on the database, over a connection of its own. */
  const verifyDirect = (options: Parameters<typeof verifyAuditChain>[1] = {}): Promise<AuditVerification> => verifyAuditChain(direct.db, options);
  const rows = () => rawSql<Row>(t.database, 'SELECT * FROM "AuditEvent" WHERE "seq" IS NOT NULL ORDER BY "seq"');

  before(async () => {
    t = await startTestService({ RATE_LIMIT_AUTH_FAILURES: '0', AUDIT_DENIAL_WINDOW: '0' });
    admin = `Bearer ${await t.adminToken()}`;
    const client = await t.registerClient({ client_id: 'c-chain' });
    // Concurrent requests share group-commit batches: the chain must come out gap-free anyway.
    await Promise.all(Array.from({ length: 12 }, () => t.tokenFor(client.clientId, client.secret)));
    await Promise.all(Array.from({ length: 6 }, () => t.agent.post('/token').auth(client.clientId, 'wrong').type('form').send({ grant_type: 'client_credentials' })));
    direct = await openDatabase(parseDatabaseUrl(t.database.url)!);
  });
  after(async () => {
    if (direct) await closeDatabase(direct);
    await t?.stop();
  });

  it('chains every event, gap-free in commit order, and verify finds it intact (API and direct)', async () => {
    const all = await rows();
    assert.ok(all.length >= 20, `events: ${all.length}`);
    all.forEach((row, i) => assert.equal(Number(row.seq), i + 1));
    const unchained = await rawSql(t.database, 'SELECT "id" FROM "AuditEvent" WHERE "seq" IS NULL');
    assert.equal(unchained.length, 0);
    const result = await verifyApi();
    assert.deepEqual(result, { intact: true, events_checked: all.length, checkpoints_checked: 0, first_mismatch: null });
    const progress: VerifyProgress[] = [];
    const paged = await verifyDirect({ pageSize: 4, onProgress: (p) => progress.push(p) });
    assert.equal(paged.intact, true);
    assert.equal(paged.eventsChecked, all.length);
    // Bounded memory: four rows a query, one report a page.
    assert.ok(progress.length >= Math.ceil(all.length / 4), `${progress.length} reports`);
    assert.deepEqual(progress.map((p) => p.eventsChecked).slice(0, 3), [4, 8, 12]);
  });

  it('signs checkpoints with the signing key; anyone with the JWKS verifies them', async () => {
    assert.equal(await t.container.auditCheckpoints.write('periodic'), true);
    assert.equal(await t.container.auditCheckpoints.write('periodic'), false, 'nothing new to sign');
    const [cp] = await rawSql<{ seq: string | number; hash: string; jws: string; kid: string }>(t.database, 'SELECT * FROM "AuditCheckpoint"');
    const jwks = (await t.agent.get('/.well-known/jwks.json')).body;
    const { payload, protectedHeader } = await compactVerify(cp!.jws, createLocalJWKSet(jwks));
    assert.equal(protectedHeader.typ, 'audit-checkpoint+jwt');
    assert.equal(decodeProtectedHeader(cp!.jws).kid, cp!.kid);
    const claims = JSON.parse(new TextDecoder().decode(payload));
    assert.equal(claims.iss, t.config.issuer);
    assert.equal(claims.audit_seq, String(cp!.seq));
    // The auditor's own check: the exported events hash to what was signed.
    const events = await rows();
    assert.equal(events.find((e) => Number(e.seq) === Number(cp!.seq))!.hash, claims.audit_hash);
    const result = await verifyApi();
    assert.equal(result.intact, true);
    assert.equal(result.checkpoints_checked, 1);
    // Given only the published keys (what an external party has), the same answer.
    assert.equal((await verifyDirect({ keys: jwks.keys })).intact, true);
  });

  it('names an event whose fields were edited in the database, and is intact once it is put back', async () => {
    const target = (await rows())[5]!;
    await rawSql(t.database, 'UPDATE "AuditEvent" SET "clientId" = ? WHERE "id" = ?', ['someone-else', target.id]);
    const result = await verifyApi();
    assert.equal(result.intact, false);
    assert.deepEqual({ event: result.first_mismatch?.event_id, problem: result.first_mismatch?.problem }, { event: target.id, problem: 'altered' });
    assert.match(result.first_mismatch!.description, new RegExp(target.id));
    await rawSql(t.database, 'UPDATE "AuditEvent" SET "clientId" = ? WHERE "id" = ?', [target.clientId, target.id]);
    assert.equal((await verifyApi()).intact, true);
  });

  it('names a row inserted in the database, unchained or placed after the head', async () => {
    const [template] = await rows();
    const id = '01KB0000000000000000000000';
    await rawSql(t.database, 'INSERT INTO "AuditEvent" ("id", "time", "type", "outcome") VALUES (?, ?, ?, ?)', [id, template!.time, 'token.issued', 'success']);
    let result = await verifyApi();
    assert.deepEqual({ event: result.first_mismatch?.event_id, problem: result.first_mismatch?.problem }, { event: id, problem: 'unchained' });
    await rawSql(t.database, 'DELETE FROM "AuditEvent" WHERE "id" = ?', [id]);
    const all = await rows();
    await rawSql(t.database, 'INSERT INTO "AuditEvent" ("id", "time", "type", "outcome", "seq", "hash") VALUES (?, ?, ?, ?, ?, ?)', [id, template!.time, 'token.issued', 'success', all.length + 1, 'f'.repeat(64)]);
    result = await verifyApi();
    assert.deepEqual({ event: result.first_mismatch?.event_id, problem: result.first_mismatch?.problem }, { event: id, problem: 'inserted' });
    await rawSql(t.database, 'DELETE FROM "AuditEvent" WHERE "id" = ?', [id]);
    assert.equal((await verifyApi()).intact, true);
  });

  it('catches a chain recomputed after an edit (no signing key) at the signed checkpoint', async () => {
    const before = await rows();
    const [cp] = await rawSql<{ seq: string | number }>(t.database, 'SELECT "seq" FROM "AuditCheckpoint"');
    const edited = before[2]!;
    await rawSql(t.database, 'UPDATE "AuditEvent" SET "scope" = ? WHERE "id" = ?', ['orders:admin', edited.id]);
    // Whoever edited it recomputes every later hash and the head, as the chain alone would allow.
    const fresh = await verifyDirect();
    assert.equal(fresh.firstMismatch?.eventId, edited.id);
    const rewritten = await direct.db.auditEvent.findMany({ where: { seq: { not: null } }, orderBy: { seq: 'asc' } });
    let previous = '0'.repeat(64);
    for (const row of rewritten) {
      previous = chainHash(previous, row.seq!, row);
      await rawSql(t.database, 'UPDATE "AuditEvent" SET "hash" = ? WHERE "id" = ?', [previous, row.id]);
    }
    await rawSql(t.database, 'UPDATE "AuditChainHead" SET "hash" = ? WHERE "id" = 1', [previous]);
    const result = await verifyApi();
    assert.equal(result.first_mismatch?.problem, 'checkpoint_mismatch');
    assert.equal(result.first_mismatch?.event_id, before.find((r) => Number(r.seq) === Number(cp!.seq))!.id);
    // A forged checkpoint (its hash moved to the rewritten chain) fails its signature instead.
    await rawSql(t.database, 'UPDATE "AuditCheckpoint" SET "hash" = ?', [rewritten.length ? (await rows()).find((r) => Number(r.seq) === Number(cp!.seq))!.hash : '']);
    assert.equal((await verifyApi()).first_mismatch?.problem, 'checkpoint_invalid');
    // Put everything back as it was.
    for (const row of before) await rawSql(t.database, 'UPDATE "AuditEvent" SET "hash" = ?, "scope" = ? WHERE "id" = ?', [row.hash, row.scope, row.id]);
    await rawSql(t.database, 'UPDATE "AuditChainHead" SET "hash" = ? WHERE "id" = 1', [before.at(-1)!.hash]);
    await rawSql(t.database, 'UPDATE "AuditCheckpoint" SET "hash" = ?', [before.find((r) => Number(r.seq) === Number(cp!.seq))!.hash]);
    assert.equal((await verifyApi()).intact, true);
  });

  it('names the event after a row deleted in the database, and a deleted tail', async () => {
    const all = await rows();
    const victim = all[7]!;
    await rawSql(t.database, 'DELETE FROM "AuditEvent" WHERE "id" = ?', [victim.id]);
    const result = await verifyApi();
    assert.equal(result.intact, false);
    assert.deepEqual({ event: result.first_mismatch?.event_id, problem: result.first_mismatch?.problem }, { event: all[8]!.id, problem: 'missing' });
    assert.match(result.first_mismatch!.description, new RegExp(`positions ${victim.seq} `));
    // The tail: the head still counts the events that were cut off.
    const last = (await rows()).at(-1)!;
    await rawSql(t.database, 'DELETE FROM "AuditEvent" WHERE "seq" >= ?', [Number(all[8]!.seq)]);
    const tail = await verifyDirect();
    assert.equal(tail.intact, false);
    assert.equal(tail.firstMismatch?.problem, 'truncated');
    assert.match(tail.firstMismatch!.description, new RegExp(String(last.seq)));
  });
});

describe('an installation upgraded to the chain adopts the events it already had', () => {
  let t: TestService | undefined;
  let database: TestDatabase;
  let keysDir: string;
  after(async () => {
    await t?.stop();
    await database?.drop();
    rmSync(keysDir, { recursive: true, force: true });
  });

  it('chains the pre-chain rows on the first start, in time order, and verifies intact', async () => {
    database = await createTestDatabase();
    keysDir = mkdtempSync(path.join(tmpdir(), 'idb-keys-'));
    await applyMigrations(parseDatabaseUrl(database.url)!);
    const legacy = ['01KA0000000000000000000001', '01KA0000000000000000000002', '01KA0000000000000000000003'];
    for (const id of legacy) {
      await rawSql(database, 'INSERT INTO "AuditEvent" ("id", "time", "type", "outcome", "clientId") VALUES (?, ?, ?, ?, ?)', [id, database.provider === 'postgresql' ? '2026-11-01 10:00:00' : '2026-11-01T10:00:00.000+00:00', 'token.issued', 'success', 'c-legacy']);
    }
    t = await startTestService({}, { database, keysDir });
    const rows = await rawSql<{ id: string; seq: string | number }>(database, 'SELECT "id", "seq" FROM "AuditEvent" ORDER BY "seq"');
    assert.deepEqual(rows.slice(0, 3).map((r) => [r.id, Number(r.seq)]), legacy.map((id, i) => [id, i + 1]));
    const res = await t.agent.post('/admin/audit/verify').set('authorization', `Bearer ${await t.adminToken()}`);
    assert.equal(res.body.intact, true, res.text);
    assert.ok(res.body.events_checked > 3);
  });
});
