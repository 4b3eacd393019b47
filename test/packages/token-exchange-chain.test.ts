import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestService, type TestService } from '../helpers/start-app.ts';
import { ACCESS_TOKEN_TYPE, createTokenSource, TOKEN_EXCHANGE_GRANT, type TokenSource } from '../../packages/token-client/src/index.ts';
import { createVerifier } from '../../packages/verifier/src/index.ts';
import { bodyOf, startTarget, type Target } from './target-service.ts';

const A = 'https://a.internal';
const B = 'https://b.internal';
const C = 'https://c.internal';

/**
 * A → C → B on the real service with both packages: each hop checks what it receives with the
 * verifier and exchanges it (RFC 8693) with the token client for a token for the next hop, so B
 * still sees who the request is for and who acted on the way.
 */
describe('a request through A → C → B with the token client\'s exchange and the verifier', () => {
  let t: TestService;
  let targetC: Target;
  let targetB: Target;
  let gateway: TokenSource;
  let serviceA: TokenSource;
  let serviceC: TokenSource;

  before(async () => {
    t = await startTestService();
    const source = (clientId: string, secret: string) => createTokenSource({ issuer: t.config.issuer, clientId, auth: { method: 'client_secret_basic', clientSecret: secret } });
    const exchanger = async (id: string, policy: Record<string, unknown>) => {
      const client = await t.registerClient({
        client_id: id, grant_types: ['client_credentials', TOKEN_EXCHANGE_GRANT], audience: [`https://${id}.internal`], scope: '',
        token_exchange: { subject_issuers: [t.config.issuer], ...policy },
      });
      return source(client.clientId, client.secret);
    };
    const gatewayClient = await t.registerClient({ client_id: 'gateway', scope: 'orders:read orders:write', audience: [A] });
    gateway = source(gatewayClient.clientId, gatewayClient.secret);
    serviceA = await exchanger('svc-a', { subject_audiences: [A], audience: [C], scope: 'orders:read orders:write' });
    serviceC = await exchanger('svc-c', { subject_audiences: [C], audience: [B], scope: 'orders:read' });
    targetC = await startTarget(createVerifier({ issuer: t.config.issuer, audience: C }));
    targetB = await startTarget(createVerifier({ issuer: t.config.issuer, audience: B }));
  });
  after(async () => {
    await targetC.close();
    await targetB.close();
    await t.stop();
  });

  it('B sees the original subject and the nested actors; a wrong audience, no token or a missing scope is refused at each hop', async () => {
    const received = (await gateway.getToken({ audience: A })).accessToken;

    // A → C
    const forC = await serviceA.exchange({ subjectToken: received, audience: C });
    assert.equal(forC.issuedTokenType, ACCESS_TOKEN_TYPE);
    const atC = await fetch(`${targetC.url}/orders`, { headers: await serviceA.headersFor({ method: 'GET', url: `${targetC.url}/orders` }, forC) });
    assert.equal(atC.status, 200);
    const seenByC = await bodyOf(atC);
    assert.equal(seenByC.sub, 'gateway');
    assert.equal(seenByC.client_id, 'svc-a');
    assert.deepEqual(seenByC.actors, [{ sub: 'svc-a' }]);

    // C → B, narrowed to orders:read
    const forB = await serviceC.exchange({ subjectToken: forC.accessToken, audience: B, scope: 'orders:read' });
    const atB = await fetch(`${targetB.url}/orders`, { headers: { authorization: `Bearer ${forB.accessToken}` } });
    assert.equal(atB.status, 200);
    const seenByB = await bodyOf(atB);
    assert.equal(seenByB.sub, 'gateway');
    assert.equal(seenByB.client_id, 'svc-c');
    assert.deepEqual(seenByB.scopes, ['orders:read']);
    assert.deepEqual(seenByB.actors, [{ sub: 'svc-c' }, { sub: 'svc-a' }]);

    // Refusals at each hop: another hop's token, no token, a scope the exchange narrowed away.
    for (const [target, wrong] of [[targetC, received], [targetB, forC.accessToken]] as const) {
      const res = await fetch(`${target.url}/orders`, { headers: { authorization: `Bearer ${wrong}` } });
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate')!, /error="invalid_token", error_description="the access token is not meant for this service"/);
      assert.equal((await fetch(`${target.url}/orders`)).status, 401);
    }
    const write = await fetch(`${targetB.url}/orders`, { method: 'POST', headers: { authorization: `Bearer ${forB.accessToken}` } });
    assert.equal(write.status, 403);
    assert.match(write.headers.get('www-authenticate')!, /error="insufficient_scope".*scope="orders:write"/);

    // The same exchange again is served from the cache: one token.exchanged per hop.
    assert.equal((await serviceC.exchange({ subjectToken: forC.accessToken, audience: B, scope: 'orders:read' })).accessToken, forB.accessToken);
    assert.equal((await t.auditEvents({ type: 'token.exchanged', clientId: 'svc-c' })).length, 1);
  });

  it('reports the server\'s refusal of an exchange outside the policy', async () => {
    const received = (await gateway.getToken({ audience: A })).accessToken;
    await assert.rejects(serviceA.exchange({ subjectToken: received, audience: B }), { name: 'TokenRequestFailed', status: 400, error: 'invalid_target' });
  });
});
