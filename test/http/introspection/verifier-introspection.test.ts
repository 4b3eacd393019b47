import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createVerifier } from '../../../packages/verifier/src/index.ts';
import { startTestService, type RegisteredClient, type TestService } from '../../helpers/start-app.ts';
import { startTarget, type Target } from '../../packages/target-service.ts';

const ORDERS = 'https://orders.internal';

/**
 * The documented path for high-value targets, end to end: the verifier middleware at a target
 * introspects with its own client on its introspect: true route, so a token revoked (or whose client
 * was disabled) stops there at once while routes that verify locally still take it until exp.
 */
describe('the verifier middleware introspecting at the real service', () => {
  let t: TestService;
  let caller: RegisteredClient;
  let target: Target;
  let unentitled: Target;

  before(async () => {
    t = await startTestService({ RATE_LIMIT_TOKEN_PER_CLIENT: '0' });
    caller = await t.registerClient({ client_id: 'orders-caller', audience: [ORDERS] });
    const rs = await t.registerClient({ client_id: 'orders-rs', introspection: true, scope: '', audience: [] });
    const plain = await t.registerClient({ client_id: 'orders-rs-plain', scope: '', audience: [] });
    const verifierFor = (client: RegisteredClient) => createVerifier({
      issuer: t.config.issuer, audience: ORDERS,
      introspection: { endpoint: `${t.config.issuer}/introspect`, clientId: client.clientId, clientSecret: client.secret },
    });
    target = await startTarget(verifierFor(rs));
    unentitled = await startTarget(verifierFor(plain));
  });
  after(async () => {
    await target?.close();
    await unentitled?.close();
    await t.stop();
  });

  const call = (at: Target, path: string, token: string, method = 'POST') => fetch(`${at.url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });

  it('lets an active token through the introspected route, and stops it there once revoked', async () => {
    const token = await t.tokenFor(caller.clientId, caller.secret);
    const ok = await call(target, '/refunds', token);
    assert.equal(ok.status, 201);
    assert.equal(((await ok.json()) as { active: unknown }).active, true);
    const revoked = await t.agent.post('/revoke').auth(caller.clientId, caller.secret).type('form').send({ token });
    assert.equal(revoked.status, 200);
    const refused = await call(target, '/refunds', token);
    assert.equal(refused.status, 401);
    assert.match(refused.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    // A route that verifies locally only still takes it: the revocation delay there is the token's lifetime.
    assert.equal((await call(target, '/orders', token, 'GET')).status, 200);
  });

  it('stops the tokens of a client disabled since', async () => {
    const client = await t.registerClient({ client_id: 'orders-caller-2', audience: [ORDERS] });
    const token = await t.tokenFor(client.clientId, client.secret);
    assert.equal((await call(target, '/refunds', token)).status, 201);
    const patched = await t.agent.patch('/admin/clients/orders-caller-2').set('authorization', `Bearer ${await t.adminToken()}`).send({ disabled: true });
    assert.equal(patched.status, 200);
    assert.equal((await call(target, '/refunds', token)).status, 401);
  });

  it('fails closed at a target whose client may not introspect', async () => {
    const token = await t.tokenFor(caller.clientId, caller.secret);
    assert.equal((await call(unentitled, '/refunds', token)).status, 503);
  });
});
