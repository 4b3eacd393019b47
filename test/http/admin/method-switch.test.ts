import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createSigningKey, type SigningKey } from '../../helpers/assertion.ts';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { startTestService, type TestService } from '../../helpers/start-app.ts';

/**
 * A client's secrets belong to its secret method: a PATCH to a key or certificate method destroys
 * them, so a later switch back cannot revive a secret that leaked meanwhile; the switch back issues
 * a new secret, shown once (AD-02).
 */
describe('PATCH token_endpoint_auth_method and the client\'s secrets', () => {
  let t: TestService;
  let admin: string;
  let key: SigningKey;

  before(async () => {
    key = await createSigningKey('ES256');
    t = await startTestService();
    admin = `Bearer ${await t.adminToken()}`;
  });
  after(() => t.stop());

  const storedSecrets = async (id: string) => (await t.container.uow.stores.clients.findForAuthentication(id))!.secrets;
  const basicToken = (id: string, secret: string) =>
    t.agent.post('/token').auth(id, secret).type('form').send({ grant_type: 'client_credentials' });
  const patch = (id: string, body: object) => t.agent.patch(`/admin/clients/${id}`).set('authorization', admin).send(body);
  const updatedEvent = async (requestId: unknown) =>
    (await t.auditEvents({ type: 'client.updated' })).find((e) => e.requestId === requestId)!;

  it('destroys every stored secret hash, grace-period ones included, when the client switches to private_key_jwt', async () => {
    const client = await t.registerClient({ client_id: 'c-switch' });
    const rotated = await t.agent.post('/admin/clients/c-switch/secret').set('authorization', admin).send({ grace_seconds: 3600 });
    assert.equal(rotated.status, 200, rotated.text);
    assert.equal((await storedSecrets('c-switch')).length, 2);

    const res = await patch('c-switch', { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.publicJwk] } });
    assert.equal(res.status, 200, res.text);
    expectMatchesOpenApi(res, 'PATCH', '/admin/clients/{client_id}');
    assert.equal(res.body.client_secret, undefined);
    assert.deepEqual(await storedSecrets('c-switch'), []);
    const event = await updatedEvent(res.headers['x-request-id']);
    assert.equal(event.details?.secrets_removed, 2);
    assert.doesNotMatch(JSON.stringify(event), new RegExp(`${client.secret}|${rotated.body.client_secret}|hmac-sha256`));
  });

  it('AD-02 issues a new secret, shown once with no-store, when the client switches back; no earlier secret works', async () => {
    const client = await t.registerClient({ client_id: 'c-switch-back' });
    assert.equal((await patch('c-switch-back', { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.publicJwk] } })).status, 200);

    const res = await patch('c-switch-back', { token_endpoint_auth_method: 'client_secret_basic', jwks: null });
    assert.equal(res.status, 200, res.text);
    expectMatchesOpenApi(res, 'PATCH', '/admin/clients/{client_id}');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.match(res.body.client_secret, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(res.body.client_secret_expires_at, 0);
    assert.notEqual(res.body.client_secret, client.secret);
    assert.equal((await storedSecrets('c-switch-back')).length, 1);
    assert.equal((await basicToken('c-switch-back', client.secret)).status, 401, 'the secret from before the switch is gone');
    assert.equal((await basicToken('c-switch-back', res.body.client_secret)).status, 200);
    assert.equal((await updatedEvent(res.headers['x-request-id'])).details?.secret_issued, true);
    const read = await t.agent.get('/admin/clients/c-switch-back').set('authorization', admin);
    assert.equal(read.body.client_secret, undefined, 'shown once: GET never returns it');
  });

  it('keeps the secret across a switch between the two secret methods, and issues none', async () => {
    const client = await t.registerClient({ client_id: 'c-basic-to-post' });
    const res = await patch('c-basic-to-post', { token_endpoint_auth_method: 'client_secret_post' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.client_secret, undefined);
    const token = await t.agent.post('/token').type('form')
      .send({ grant_type: 'client_credentials', client_id: 'c-basic-to-post', client_secret: client.secret });
    assert.equal(token.status, 200, token.text);
  });
});
