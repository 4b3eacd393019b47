import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createAuditPruner } from '../../src/audit/audit-retention.ts';
import { verifyAuditChain } from '../../src/audit/verify-audit-chain.ts';
import { openGate } from '../../src/persistence/sqlite-gate.ts';
import { rawSql } from '../helpers/raw-sql.ts';
import { BOOTSTRAP_SECRET, startTestService, type RegisteredClient, type TestService } from '../helpers/start-app.ts';

const engine = process.env.DATABASE_URL?.startsWith('postgres') ? 'postgresql' : 'sqlite';

describe(`audit retention: pruned in batches behind a signed anchor (${engine})`, () => {
  let t: TestService;
  let client: RegisteredClient;

  before(async () => {
    t = await startTestService({ AUDIT_RETENTION: '1d' });
    client = await t.registerClient({ client_id: 'c-retention' });
    for (let i = 0; i < 5; i++) await t.tokenFor(client.clientId, client.secret);
  });
  after(async () => t?.stop());

  it('keeps everything within the retention', async () => {
    assert.deepEqual(await t.container.auditPruner.prune(), { deleted: 0, anchor: undefined });
  });

  it('deletes what is older, anchors the cut, and verify still finds the rest intact (and names an edit in it)', async () => {
    const old = await rawSql<{ id: string }>(t.database, 'SELECT "id" FROM "AuditEvent"');
    t.clock.advance(2 * 86400);
    await t.tokenFor(client.clientId, client.secret);
    await t.tokenFor(client.clientId, client.secret);
    // A pruner with small batches: several delete statements, each on its own.
    const pruner = createAuditPruner({
      db: t.container.db, gate: t.container.uow.gate ?? openGate, clock: t.clock, retentionSeconds: 86400, checkpoints: t.container.auditCheckpoints, batchSize: 3,
    });
    const result = await pruner.prune();
    // The admin token of the first request is within the old part too.
    assert.ok(result.deleted >= old.length - 1 && result.deleted <= old.length, `${result.deleted} of ${old.length}`);
    const left = await rawSql<{ id: string; seq: string | number; time: unknown }>(t.database, 'SELECT "id", "seq", "time" FROM "AuditEvent" ORDER BY "seq"');
    assert.ok(left.length >= 2);
    assert.equal(Number(left[0]!.seq), Number(result.anchor) + 1);
    const [anchor] = await rawSql<{ kind: string; seq: string | number }>(t.database, 'SELECT "kind", "seq" FROM "AuditCheckpoint"');
    assert.equal(anchor!.kind, 'anchor');
    assert.equal(Number(anchor!.seq), Number(result.anchor));

    // Two days on, the cached admin token has expired: a fresh one (one more event).
    const adminToken = await t.tokenFor(t.config.bootstrapAdmin.clientId, BOOTSTRAP_SECRET);
    const res = await t.agent.post('/admin/audit/verify').set('authorization', `Bearer ${adminToken}`);
    assert.equal(res.status, 200);
    assert.equal(res.body.intact, true, res.text);
    assert.equal(res.body.events_checked, (await rawSql(t.database, 'SELECT "id" FROM "AuditEvent"')).length);
    assert.equal(res.body.checkpoints_checked, 1);

    await rawSql(t.database, 'UPDATE "AuditEvent" SET "jti" = ? WHERE "id" = ?', ['forged', left[0]!.id]);
    const broken = await verifyAuditChain(t.container.db);
    assert.deepEqual({ event: broken.firstMismatch?.eventId, problem: broken.firstMismatch?.problem }, { event: left[0]!.id, problem: 'altered' });
    // A pruner does not sign an anchor over a broken segment.
    t.clock.advance(2 * 86400);
    const refused = await pruner.prune();
    assert.equal(refused.deleted, 0);
    assert.match(refused.refused ?? '', /broken/);
  });

  it('AUDIT_RETENTION is validated at start-up', async () => {
    await assert.rejects(startTestService({ AUDIT_RETENTION: '1h' }), /AUDIT_RETENTION/);
  });
});

describe(`refusal floods: identical denials stored once plus a count, issuances never (${engine})`, () => {
  let t: TestService;
  let client: RegisteredClient;

  before(async () => {
    t = await startTestService({ AUDIT_DENIAL_WINDOW: '60', RATE_LIMIT_AUTH_FAILURES: '0' });
    client = await t.registerClient({ client_id: 'c-flood' });
  });
  after(async () => t?.stop());

  it('aggregates the repeats of one (client, address, reason) within the window', async () => {
    const refused = () => t.agent.post('/token').auth(client.clientId, 'wrong').type('form').send({ grant_type: 'client_credentials' });
    // The first ten in the window are stored one by one, the next nine only counted.
    for (let i = 0; i < 19; i++) {
      assert.equal((await refused()).status, 401);
      if (i % 6 === 0) await t.tokenFor(client.clientId, client.secret);
    }
    const unknown = await t.agent.post('/token').auth('c-nobody', 'x').type('form').send({ grant_type: 'client_credentials' });
    assert.equal(unknown.status, 401);
    const denied = await t.auditEvents({ type: 'token.denied' });
    assert.equal(denied.filter((e) => e.clientId === 'c-flood').length, 10, 'the first ten refusals are stored at once');
    assert.equal(denied.filter((e) => e.clientId === 'c-nobody').length, 1);
    assert.equal((await t.auditEvents({ type: 'token.issued', clientId: 'c-flood' })).length, 4, 'every issuance is stored');

    await t.container.denials!.sweep();
    assert.equal((await t.auditEvents({ type: 'token.denied', clientId: 'c-flood' })).length, 10, 'the window is still open');
    t.clock.advance(61);
    await t.container.denials!.sweep();
    const after = await t.auditEvents({ type: 'token.denied', clientId: 'c-flood' });
    assert.equal(after.length, 11);
    const summary = after[0]!;
    assert.equal(summary.reason, 'invalid_secret');
    assert.equal(summary.sourceAddress, after[1]!.sourceAddress);
    assert.equal(summary.details?.aggregated, 9);
    assert.equal(summary.details?.window_seconds, 60);
    assert.ok(Date.parse(String(summary.details?.first_at)) <= Date.parse(String(summary.details?.last_at)));
    // The next refusal opens a new window and is stored at once.
    assert.equal((await refused()).status, 401);
    assert.equal((await t.auditEvents({ type: 'token.denied', clientId: 'c-flood' })).length, 12);
    assert.equal((await verifyAuditChain(t.container.db)).intact, true);
  });
});
