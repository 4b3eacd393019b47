import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Response } from 'supertest';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { expectProblemDocument } from '../../helpers/problem.ts';
import { BOOTSTRAP_SECRET, startTestService, type RegisteredClient, type TestService } from '../../helpers/start-app.ts';

/**
 * Function-level authorization inside the admin API (AD-01, OWASP API5): a token holding
 * admin:clients alone manages service clients, but can neither grant admin scopes or the admin
 * audience nor touch a client that holds them, so it cannot make itself (or anyone) full admin.
 */

const ALL_ADMIN_SCOPES = 'admin:clients admin:keys admin:audit';

describe('admin privilege escalation (AD-01)', () => {
  let t: TestService;
  let adminAudience: string;
  let full: string;
  let narrow: string;
  let ops: RegisteredClient;
  let service: RegisteredClient;

  before(async () => {
    t = await startTestService();
    adminAudience = `${t.config.issuer}/admin`;
    full = `Bearer ${await t.adminToken()}`;
    ops = await t.registerClient({ client_id: 'c-ops', scope: 'admin:clients', audience: [adminAudience] });
    narrow = `Bearer ${await t.tokenFor(ops.clientId, ops.secret)}`;
    service = await t.registerClient({ client_id: 'c-service' });
  });
  after(() => t.stop());

  const clientRow = (id: string) => t.container.uow.stores.clients.findById(id);

  /** 403 problem, the WWW-Authenticate naming every admin scope, exactly one admin.denied, and the target unchanged. */
  async function expectEscalationRefused(res: Response, method: string, template: string, targetId?: string, before?: unknown) {
    const problem = expectProblemDocument(res, 403);
    expectMatchesOpenApi(res, method, template);
    assert.match(String(problem.detail), /every admin scope \(admin:clients admin:keys admin:audit\)/);
    assert.equal(res.headers['www-authenticate'], `Bearer error="insufficient_scope", scope="${ALL_ADMIN_SCOPES}"`);
    const denied = (await t.auditEvents({ type: 'admin.denied' })).filter((e) => e.requestId === res.headers['x-request-id']);
    assert.equal(denied.length, 1);
    assert.equal(denied[0]!.reason, 'admin_privilege_required');
    if (targetId !== undefined) assert.deepEqual(await clientRow(targetId), before, `${targetId} is unchanged`);
  }

  it('AD-01 refuses an admin:clients-only token registering a client with admin scopes, an unknown admin: scope, or the admin audience', async () => {
    const attempts = [
      { client_id: 'c-esc-1', scope: 'admin:keys admin:audit', audience: [adminAudience] },
      { client_id: 'c-esc-2', scope: 'admin:keys', audience: ['https://orders.internal'] },
      { client_id: 'c-esc-3', scope: 'orders:read', audience: [adminAudience] },
      { client_id: 'c-esc-4', scope: 'admin:anything', audience: ['https://orders.internal'] },
    ];
    const count = await t.container.uow.stores.clients.count();
    for (const body of attempts) {
      const res = await t.agent.post('/admin/clients').set('authorization', narrow).send({ client_name: 'escalation', ...body });
      await expectEscalationRefused(res, 'POST', '/admin/clients');
      assert.equal(await clientRow(body.client_id), undefined);
    }
    assert.equal(await t.container.uow.stores.clients.count(), count, 'nothing was registered');
    assert.equal((await t.auditEvents({ type: 'client.created' })).filter((e) => e.clientId?.startsWith('c-esc')).length, 0);
  });

  it('AD-01 refuses an admin:clients-only token changing, disabling, rotating the secret of, or deleting the bootstrap admin', async () => {
    const id = t.config.bootstrapAdmin.clientId;
    const before = await clientRow(id);
    const path = `/admin/clients/${id}`;
    for (const body of [{ client_name: 'mine now' }, { disabled: true }, { scope: 'admin:clients' }, { audience: ['https://orders.internal'] }]) {
      await expectEscalationRefused(await t.agent.patch(path).set('authorization', narrow).send(body), 'PATCH', '/admin/clients/{client_id}', id, before);
    }
    await expectEscalationRefused(await t.agent.post(`${path}/secret`).set('authorization', narrow).send({}), 'POST', '/admin/clients/{client_id}/secret', id, before);
    await expectEscalationRefused(await t.agent.delete(path).set('authorization', narrow), 'DELETE', '/admin/clients/{client_id}', id, before);
    const held = await t.adminToken();
    await expectEscalationRefused(await t.agent.post(`${path}/revoke-tokens`).set('authorization', narrow).send({}), 'POST', '/admin/clients/{client_id}/revoke-tokens', id, before);
    assert.equal((await t.agent.get('/admin/keys').set('authorization', `Bearer ${held}`)).status, 200, 'the bootstrap admin\'s tokens were not revoked');
    // The bootstrap admin's own secret still works and still gets a full admin token.
    const token = await t.tokenFor(id, BOOTSTRAP_SECRET);
    const res = await t.agent.get('/admin/keys').set('authorization', `Bearer ${token}`);
    assert.equal(res.status, 200, res.text);
  });

  it('AD-01 refuses an admin:clients-only token giving itself more scopes, and giving a service client an admin scope or the admin audience', async () => {
    const opsBefore = await clientRow('c-ops');
    await expectEscalationRefused(await t.agent.patch('/admin/clients/c-ops').set('authorization', narrow).send({ scope: ALL_ADMIN_SCOPES }),
      'PATCH', '/admin/clients/{client_id}', 'c-ops', opsBefore);
    await expectEscalationRefused(await t.agent.post('/admin/clients/c-ops/secret').set('authorization', narrow).send({}),
      'POST', '/admin/clients/{client_id}/secret', 'c-ops', opsBefore);
    const serviceBefore = await clientRow('c-service');
    for (const body of [{ scope: 'orders:read admin:keys' }, { audience: ['https://orders.internal', adminAudience] }]) {
      await expectEscalationRefused(await t.agent.patch('/admin/clients/c-service').set('authorization', narrow).send(body),
        'PATCH', '/admin/clients/{client_id}', 'c-service', serviceBefore);
    }
  });

  it('AD-01 lets an admin:clients-only token register, change, rotate, disable and delete service clients', async () => {
    const created = await t.agent.post('/admin/clients').set('authorization', narrow)
      .send({ client_name: 'payments', client_id: 'c-payments', scope: 'payments:read', audience: ['https://payments.internal'] });
    assert.equal(created.status, 201, created.text);
    const changed = await t.agent.patch('/admin/clients/c-payments').set('authorization', narrow)
      .send({ scope: 'payments:read payments:write', audience: ['https://payments.internal', 'https://ledger.internal'] });
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.body.scope, 'payments:read payments:write');
    const rotated = await t.agent.post(`/admin/clients/${service.clientId}/secret`).set('authorization', narrow).send({});
    assert.equal(rotated.status, 200, rotated.text);
    await t.tokenFor(service.clientId, rotated.body.client_secret);
    const disabled = await t.agent.patch('/admin/clients/c-payments').set('authorization', narrow).send({ disabled: true });
    assert.equal(disabled.status, 200, disabled.text);
    const deleted = await t.agent.delete('/admin/clients/c-payments').set('authorization', narrow);
    assert.equal(deleted.status, 204, deleted.text);
  });

  it('AD-01 lets a caller holding every admin scope grant, change, rotate and delete admin clients', async () => {
    const created = await t.agent.post('/admin/clients').set('authorization', full)
      .send({ client_name: 'auditor', client_id: 'c-auditor', scope: 'admin:audit', audience: [adminAudience] });
    assert.equal(created.status, 201, created.text);
    const changed = await t.agent.patch('/admin/clients/c-auditor').set('authorization', full).send({ scope: 'admin:audit admin:keys' });
    assert.equal(changed.status, 200, changed.text);
    const rotated = await t.agent.post('/admin/clients/c-auditor/secret').set('authorization', full).send({});
    assert.equal(rotated.status, 200, rotated.text);
    const deleted = await t.agent.delete('/admin/clients/c-auditor').set('authorization', full);
    assert.equal(deleted.status, 204, deleted.text);
  });

  it('AD-01 counts only the scopes the token carries: the bootstrap admin with a token for admin:clients alone cannot grant admin scopes', async () => {
    const token = await t.tokenFor(t.config.bootstrapAdmin.clientId, BOOTSTRAP_SECRET, { scope: 'admin:clients' });
    const res = await t.agent.post('/admin/clients').set('authorization', `Bearer ${token}`)
      .send({ client_name: 'x', client_id: 'c-esc-narrow-token', scope: 'admin:keys', audience: [adminAudience] });
    await expectEscalationRefused(res, 'POST', '/admin/clients');
  });

  describe('admin tokens re-checked against the client\'s current scopes and audience', () => {
    it('refuses a token whose client no longer holds the scope it carries (403 scope_revoked), and honours the scopes it keeps', async () => {
      const auditor = await t.registerClient({ client_id: 'c-shrinking', scope: 'admin:clients admin:audit', audience: [adminAudience] });
      const token = `Bearer ${await t.tokenFor(auditor.clientId, auditor.secret)}`;
      assert.equal((await t.agent.get('/admin/audit').set('authorization', token)).status, 200);
      const shrink = await t.agent.patch('/admin/clients/c-shrinking').set('authorization', full).send({ scope: 'admin:clients' });
      assert.equal(shrink.status, 200, shrink.text);

      const res = await t.agent.get('/admin/audit').set('authorization', token);
      expectProblemDocument(res, 403);
      expectMatchesOpenApi(res, 'GET', '/admin/audit');
      assert.match(String(res.body.detail ?? JSON.parse(res.text).detail), /no longer holds the admin:audit scope/);
      const denied = (await t.auditEvents({ type: 'admin.denied' })).filter((e) => e.requestId === res.headers['x-request-id']);
      assert.deepEqual(denied.map((e) => e.reason), ['scope_revoked']);
      assert.equal((await t.agent.get('/admin/clients').set('authorization', token)).status, 200, 'admin:clients is still held');
    });

    it('a full admin stripped of admin:keys is no longer full admin: its old token cannot grant admin scopes', async () => {
      const root = await t.registerClient({ client_id: 'c-root', scope: ALL_ADMIN_SCOPES, audience: [adminAudience] });
      const token = `Bearer ${await t.tokenFor(root.clientId, root.secret)}`;
      const strip = await t.agent.patch('/admin/clients/c-root').set('authorization', full).send({ scope: 'admin:clients admin:audit' });
      assert.equal(strip.status, 200, strip.text);
      const res = await t.agent.post('/admin/clients').set('authorization', token)
        .send({ client_name: 'x', client_id: 'c-esc-stripped', scope: 'admin:audit', audience: [adminAudience] });
      await expectEscalationRefused(res, 'POST', '/admin/clients');
      const keys = await t.agent.get('/admin/keys').set('authorization', token);
      expectProblemDocument(keys, 403);
    });

    it('refuses every token of a client that no longer holds the admin audience (401 audience_revoked)', async () => {
      const leaving = await t.registerClient({ client_id: 'c-leaving', scope: 'admin:clients', audience: [adminAudience, 'https://orders.internal'] });
      const token = `Bearer ${await t.tokenFor(leaving.clientId, leaving.secret, { audience: adminAudience })}`;
      const move = await t.agent.patch('/admin/clients/c-leaving').set('authorization', full).send({ audience: ['https://orders.internal'] });
      assert.equal(move.status, 200, move.text);
      const res = await t.agent.get('/admin/clients').set('authorization', token);
      expectProblemDocument(res, 401);
      assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"');
      const denied = (await t.auditEvents({ type: 'admin.denied' })).filter((e) => e.requestId === res.headers['x-request-id']);
      assert.deepEqual(denied.map((e) => e.reason), ['audience_revoked']);
    });
  });
});
