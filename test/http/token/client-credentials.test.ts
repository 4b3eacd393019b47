import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { startTestService, type RegisteredClient, type TestService } from '../../helpers/start-app.ts';

describe('POST /token with client_credentials', () => {
  let t: TestService;
  let basic: RegisteredClient;

  before(async () => {
    t = await startTestService();
    basic = await t.registerClient({ client_id: 'c-basic' });
  });
  after(() => t.stop());

  it('CA-01 issues a Bearer token to a client_secret_basic client and audits it', async () => {
    const res = await t.agent.post('/token').auth(basic.clientId, basic.secret).type('form').send({ grant_type: 'client_credentials' });
    assert.equal(res.status, 200, res.text);
    expectMatchesOpenApi(res, 'POST', '/token');
    assert.deepEqual(Object.keys(res.body).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
    assert.equal(res.body.token_type, 'Bearer');
    assert.equal(res.body.expires_in, 900);
    assert.equal(res.body.scope, 'orders:read orders:write');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers.pragma, 'no-cache');

    const header = decodeProtectedHeader(res.body.access_token);
    assert.equal(header.typ, 'at+jwt');
    assert.equal(header.alg, 'RS256');
    const claims = decodeJwt(res.body.access_token);
    assert.equal(claims.sub, 'c-basic');
    assert.equal(claims.client_id, 'c-basic');
    assert.equal(claims.aud, 'https://orders.internal');

    const [issued] = await t.auditEvents({ type: 'token.issued', clientId: 'c-basic' });
    assert.equal(issued?.authMethod, 'client_secret_basic');
    assert.equal(issued?.jti, claims.jti);
    assert.equal(issued?.kid, header.kid);
  });
});
