import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AUDIENCE, startThreeServices, type RunningExample } from '../../examples/three-services/start.ts';
import { createTokenSource, type TokenSource } from '../../packages/token-client/src/index.ts';
import { BOOTSTRAP_SECRET, startTestService, type TestService } from '../helpers/start-app.ts';

/**
 * The runnable example against a real service: a user's token from the example's IdP goes to A,
 * A → C → B by token exchange, and B answers with the user and the actor chain; each hop refuses a
 * request without a token, with another hop's token, and without the scope its route needs.
 */
describe('examples/three-services', () => {
  let t: TestService;
  let example: RunningExample;
  let svcA: TokenSource;
  let svcC: TokenSource;

  before(async () => {
    t = await startTestService({ ALLOW_INSECURE_JWKS_URI: 'true' });
    example = await startThreeServices({ identityUrl: t.url, adminSecret: BOOTSTRAP_SECRET, adminClientId: t.config.bootstrapAdmin.clientId });
    const source = (client: { clientId: string; secret: string }) => createTokenSource({ issuer: t.config.issuer, clientId: client.clientId, auth: { method: 'client_secret_basic', clientSecret: client.secret } });
    svcA = source(example.clients.a);
    svcC = source(example.clients.c);
  });
  after(async () => {
    await example?.stop();
    await t?.stop();
  });

  const get = (url: string, token?: string) => fetch(`${url}/orders`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });

  it('a user request flows A → C → B and B sees the user, acted for by C on behalf of A', async () => {
    const res = await get(example.urls.a, await example.userToken({ sub: 'user-42' }));
    const body = await res.json() as Record<string, any>;
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.deepEqual({ service: body.service, sub: body.sub, client_id: body.client_id, act: body.act }, { service: 'A', sub: 'user-42', client_id: 'web-app', act: null });
    assert.deepEqual({ service: body.next.service, sub: body.next.sub, client_id: body.next.client_id, act: body.next.act }, { service: 'C', sub: 'user-42', client_id: 'svc-a', act: { sub: 'svc-a' } });
    const b = body.next.next;
    assert.equal(b.service, 'B');
    assert.equal(b.sub, 'user-42');
    assert.equal(b.client_id, 'svc-c');
    assert.equal(b.scope, 'orders:read');
    assert.deepEqual(b.act, { sub: 'svc-c', act: { sub: 'svc-a' } });
    const [exchanged] = await t.auditEvents({ type: 'token.exchanged', clientId: 'svc-a' });
    assert.equal(exchanged?.details?.subject_issuer, example.idpIssuer);
  });

  it('each hop refuses a missing token (401), a token for another audience (401) and a token without orders:read (403)', async () => {
    const user = await example.userToken();
    const forC = (await svcA.exchange({ subjectToken: user, audience: AUDIENCE.c, scope: 'orders:read' })).accessToken;
    const forB = (await svcC.exchange({ subjectToken: forC, audience: AUDIENCE.b, scope: 'orders:read' })).accessToken;
    // A token for C carrying both scopes, to be narrowed by C to orders:write alone for B.
    const forCWide = (await svcA.exchange({ subjectToken: user, audience: AUDIENCE.c, scope: 'orders:read orders:write' })).accessToken;
    const hops = [
      { name: 'A', url: example.urls.a, wrongAudience: await example.userToken({ aud: AUDIENCE.c }), noScope: await example.userToken({ scope: 'orders:write' }) },
      { name: 'C', url: example.urls.c, wrongAudience: forB, noScope: (await svcA.exchange({ subjectToken: user, audience: AUDIENCE.c, scope: 'orders:write' })).accessToken },
      { name: 'B', url: example.urls.b, wrongAudience: forC, noScope: (await svcC.exchange({ subjectToken: forCWide, audience: AUDIENCE.b, scope: 'orders:write' })).accessToken },
    ];
    for (const hop of hops) {
      const missing = await get(hop.url);
      assert.equal(missing.status, 401, `${hop.name}: no token`);
      assert.match(missing.headers.get('www-authenticate')!, new RegExp(`^Bearer realm="${hop.name}"`));

      const wrong = await get(hop.url, hop.wrongAudience);
      assert.equal(wrong.status, 401, `${hop.name}: wrong audience`);
      assert.match(wrong.headers.get('www-authenticate')!, /error="invalid_token", error_description="the access token is not meant for this service"/);

      const narrow = await get(hop.url, hop.noScope);
      assert.equal(narrow.status, 403, `${hop.name}: missing scope`);
      assert.match(narrow.headers.get('www-authenticate')!, /error="insufficient_scope".*scope="orders:read"/);
    }
    // The right token is still let through at B directly: the refusals above were about the token, not the hop.
    assert.equal((await get(example.urls.b, forB)).status, 200);
  });
});
