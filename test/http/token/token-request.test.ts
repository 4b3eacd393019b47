import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import type { Response } from 'supertest';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { startTestService, type RegisteredClient, type TestService } from '../../helpers/start-app.ts';

const ORDERS = 'https://orders.internal';
const INVENTORY = 'https://inventory.internal';
const REGISTERED_SCOPE = 'orders:read orders:write';
/** RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E. */
const DESCRIPTION_CHARS = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** A form body written out by hand, so every byte sent is the one the case names. */
function form(fields: Record<string, string | string[]>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) {
    for (const v of Array.isArray(value) ? value : [value]) params.append(name, v);
  }
  return params.toString();
}

describe('POST /token request parameters (group D)', () => {
  let t: TestService;
  let basic: RegisteredClient;
  let post: RegisteredClient;
  let multi: RegisteredClient;
  let noGrant: RegisteredClient;
  let shortTtl: RegisteredClient;

  before(async () => {
    t = await startTestService();
    basic = await t.registerClient({ client_id: 'c-basic' });
    post = await t.registerClient({ client_id: 'c-post', token_endpoint_auth_method: 'client_secret_post' });
    multi = await t.registerClient({ client_id: 'c-multi', audience: [ORDERS, INVENTORY] });
    noGrant = await t.registerClient({ client_id: 'c-no-grant', grant_types: [] });
    shortTtl = await t.registerClient({ client_id: 'c-ttl', access_token_ttl: 120 });
  });
  after(() => t.stop());

  function basicToken(client: RegisteredClient, body: string) {
    return t.agent.post('/token').auth(client.clientId, client.secret).type('form').send(body);
  }

  async function eventsOf(res: Response, type: 'token.issued' | 'token.denied') {
    const requestId = res.headers['x-request-id'];
    assert.ok(requestId, 'every response names its request id');
    return (await t.auditEvents({ type })).filter((e) => e.requestId === requestId);
  }

  /** The rejection contract R: status, error, headers, a safe description, no token, one token.denied with its reason. */
  async function expectRejected(res: Response, status: number, error: string, reason: string, clientId?: string) {
    assert.equal(res.status, status, res.text);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.deepEqual(Object.keys(res.body).sort(), ['error', 'error_description']);
    assert.equal(res.body.error, error);
    assert.match(res.body.error_description, DESCRIPTION_CHARS);
    assert.doesNotMatch(res.text, /access_token|\bat \S+:\d+|node_modules/);
    const denied = await eventsOf(res, 'token.denied');
    assert.equal(denied.length, 1, 'exactly one token.denied per refusal');
    assert.equal(denied[0]!.outcome, 'failure');
    assert.equal(denied[0]!.reason, reason);
    if (clientId !== undefined) assert.equal(denied[0]!.clientId, clientId);
    assert.equal((await eventsOf(res, 'token.issued')).length, 0);
  }

  /** The success contract OK, returning the token's claims. */
  async function expectIssued(res: Response) {
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.body).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
    assert.equal(res.body.token_type, 'Bearer');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers.pragma, 'no-cache');
    const issued = await eventsOf(res, 'token.issued');
    assert.equal(issued.length, 1, 'exactly one token.issued per token');
    const claims = decodeJwt(res.body.access_token as string);
    assert.equal(issued[0]!.jti, claims.jti);
    // The response scope is the scope the token carries (RFC 6749 §5.1, RFC 9068 §2.2.3).
    assert.equal(res.body.scope, claims.scope);
    return claims;
  }

  describe('TR-01 grant_type', () => {
    it('TR-01 answers invalid_request when grant_type is missing', async () => {
      const res = await basicToken(basic, form({ scope: 'orders:read' }));
      await expectRejected(res, 400, 'invalid_request', 'missing_grant_type', 'c-basic');
    });

    it('TR-01 answers invalid_request when grant_type is empty', async () => {
      const res = await basicToken(basic, form({ grant_type: '' }));
      await expectRejected(res, 400, 'invalid_request', 'missing_grant_type', 'c-basic');
    });

    for (const grantType of ['password', 'authorization_code', 'refresh_token', 'Client_Credentials', 'client_credentials ']) {
      it(`TR-01 answers unsupported_grant_type for ${JSON.stringify(grantType)}`, async () => {
        const res = await basicToken(basic, form({ grant_type: grantType }));
        await expectRejected(res, 400, 'unsupported_grant_type', 'unsupported_grant_type', 'c-basic');
      });
    }

    it('TR-01 answers unauthorized_client when the client is not registered for client_credentials', async () => {
      assert.deepEqual(noGrant.body.grant_types, []);
      const res = await basicToken(noGrant, form({ grant_type: 'client_credentials' }));
      await expectRejected(res, 400, 'unauthorized_client', 'grant_not_allowed', 'c-no-grant');
    });

    it('TR-01 authenticates before looking at the grant: an unknown client with a bogus grant gets invalid_client', async () => {
      const res = await t.agent.post('/token').auth('c-nobody', 'not-a-secret').type('form').send(form({ grant_type: 'foo' }));
      await expectRejected(res, 401, 'invalid_client', 'unknown_client', 'c-nobody');
      assert.match(res.headers['www-authenticate'] ?? '', /^Basic realm="/);
    });

    it('TR-01 authenticates before looking at the grant: a wrong secret with password grant gets invalid_client', async () => {
      const res = await t.agent.post('/token').auth('c-basic', 'wrong-secret').type('form').send(form({ grant_type: 'password' }));
      await expectRejected(res, 401, 'invalid_client', 'invalid_secret', 'c-basic');
    });
  });

  describe('TR-02 scope allow-list', () => {
    it('TR-02 answers invalid_scope for an unregistered scope and issues no token with the registered subset', async () => {
      const before = (await t.auditEvents({ type: 'token.issued', clientId: 'c-basic' })).length;
      const res = await basicToken(basic, form({ grant_type: 'client_credentials', scope: 'orders:read orders:admin' }));
      await expectRejected(res, 400, 'invalid_scope', 'scope_not_allowed', 'c-basic');
      assert.equal((await t.auditEvents({ type: 'token.issued', clientId: 'c-basic' })).length, before);
    });

    it('TR-02 issues the registered scopes when scope is omitted', async () => {
      const res = await basicToken(basic, form({ grant_type: 'client_credentials' }));
      const claims = await expectIssued(res);
      assert.equal(res.body.scope, REGISTERED_SCOPE);
      assert.equal(claims.scope, REGISTERED_SCOPE);
    });

    it('TR-02 treats an empty scope like an omitted one', async () => {
      const res = await basicToken(basic, 'grant_type=client_credentials&scope=');
      const claims = await expectIssued(res);
      assert.equal(res.body.scope, REGISTERED_SCOPE);
      assert.equal(claims.scope, REGISTERED_SCOPE);
    });

    it('TR-02 de-duplicates a repeated scope token', async () => {
      const res = await basicToken(basic, form({ grant_type: 'client_credentials', scope: 'orders:read orders:read' }));
      const claims = await expectIssued(res);
      assert.equal(res.body.scope, 'orders:read');
      assert.equal(claims.scope, 'orders:read');
    });

    it('TR-02 issues exactly the requested registered scope', async () => {
      const res = await basicToken(basic, form({ grant_type: 'client_credentials', scope: 'orders:write' }));
      const claims = await expectIssued(res);
      assert.equal(claims.scope, 'orders:write');
    });
  });

  describe('TR-03 scope grammar', () => {
    const cases: Array<[string, string]> = [
      ['a line feed', 'orders:read\norders:write'],
      ['a double quote', 'orders:"read'],
      ['a backslash', 'orders:\\read'],
      ['NUL', 'orders:read\u0000'],
      ['TAB', 'orders:read\torders:write'],
      ['U+00A0', 'orders:read\u00a0orders:write'],
      ['U+200B', 'orders:read\u200b'],
      ['a CRLF header injection', 'orders:read\r\nX-Injected: 1'],
    ];
    for (const [what, scope] of cases) {
      it(`TR-03 answers invalid_scope for a scope with ${what} and never echoes it`, async () => {
        const linesBefore = t.logLines.length;
        const res = await basicToken(basic, form({ grant_type: 'client_credentials', scope }));
        await expectRejected(res, 400, 'invalid_scope', 'invalid_scope', 'c-basic');
        assert.ok(!res.text.includes(scope), 'the raw scope is not in the error body');
        assert.ok(!res.body.error_description.includes(scope));
        assert.equal(res.headers['x-injected'], undefined);
        const lines = t.logLines.slice(linesBefore);
        assert.ok(lines.length > 0, 'the request was logged');
        for (const line of lines) {
          assert.ok(!line.includes(scope), `log line echoes the raw scope: ${line}`);
          assert.doesNotThrow(() => JSON.parse(line), `log line is not one JSON record: ${line}`);
        }
      });
    }
  });

  describe('TR-04 audience and resource allow-list', () => {
    it('TR-04 answers invalid_target for an audience the client is not registered for', async () => {
      const res = await basicToken(basic, form({ grant_type: 'client_credentials', audience: 'https://billing.internal' }));
      await expectRejected(res, 400, 'invalid_target', 'audience_not_allowed', 'c-basic');
    });

    it('TR-04 answers invalid_target for a resource that differs from the registered one only by a trailing slash', async () => {
      const res = await basicToken(basic, form({ grant_type: 'client_credentials', resource: `${ORDERS}/` }));
      await expectRejected(res, 400, 'invalid_target', 'audience_not_allowed', 'c-basic');
    });

    it('TR-04 issues a token for a registered resource with that aud', async () => {
      const res = await basicToken(basic, form({ grant_type: 'client_credentials', resource: ORDERS }));
      const claims = await expectIssued(res);
      assert.equal(claims.aud, ORDERS);
    });

    for (const [what, resource] of [['relative', 'orders'], ['fragment', `${ORDERS}#frag`]] as const) {
      it(`TR-04 answers invalid_target for a ${what} resource`, async () => {
        const res = await basicToken(basic, form({ grant_type: 'client_credentials', resource }));
        await expectRejected(res, 400, 'invalid_target', 'invalid_target', 'c-basic');
      });
    }

    it('TR-04 issues an aud array for two registered resources', async () => {
      const res = await basicToken(multi, form({ grant_type: 'client_credentials', resource: [ORDERS, INVENTORY] }));
      const claims = await expectIssued(res);
      assert.deepEqual(claims.aud, [ORDERS, INVENTORY]);
      const [issued] = await eventsOf(res, 'token.issued');
      assert.deepEqual(issued!.audience, [ORDERS, INVENTORY]);
    });

    it('TR-04 refuses the whole request when one of two resources is not registered', async () => {
      const res = await basicToken(multi, form({ grant_type: 'client_credentials', resource: [ORDERS, 'https://billing.internal'] }));
      await expectRejected(res, 400, 'invalid_target', 'audience_not_allowed', 'c-multi');
    });
  });

  describe('TR-05 default audience', () => {
    it('TR-05 gives a single-audience client its audience when none is named', async () => {
      const res = await basicToken(basic, form({ grant_type: 'client_credentials' }));
      const claims = await expectIssued(res);
      assert.equal(claims.aud, ORDERS);
    });

    it('TR-05 answers invalid_request when a client with several audiences names none', async () => {
      const res = await basicToken(multi, form({ grant_type: 'client_credentials' }));
      await expectRejected(res, 400, 'invalid_request', 'audience_required', 'c-multi');
    });

    for (const [what, audience] of [['empty', ''], ['a wildcard', '*']] as const) {
      it(`TR-05 answers invalid_target for ${what} audience`, async () => {
        const res = await basicToken(basic, form({ grant_type: 'client_credentials', audience }));
        await expectRejected(res, 400, 'invalid_target', 'invalid_target', 'c-basic');
      });
    }

    it('TR-05 answers invalid_target when the issuer itself is asked for as audience', async () => {
      const res = await basicToken(basic, form({ grant_type: 'client_credentials', audience: t.config.issuer }));
      await expectRejected(res, 400, 'invalid_target', 'audience_not_allowed', 'c-basic');
    });

    it('TR-05 refuses to register the issuer itself as an audience', async () => {
      const res = await t.agent.post('/admin/clients').set('authorization', `Bearer ${await t.adminToken()}`)
        .send({ client_name: 'issuer audience', audience: [t.config.issuer], scope: 'orders:read' });
      assert.equal(res.status, 400, res.text);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
    });

    it('TR-05 never issues a token with an empty aud to a client without audiences', async () => {
      const none = await t.registerClient({ client_id: 'c-no-audience', audience: [] });
      const res = await basicToken(none, form({ grant_type: 'client_credentials' }));
      await expectRejected(res, 400, 'invalid_target', 'audience_not_allowed', 'c-no-audience');
    });
  });

  describe('TR-06 parameters the client must not control', () => {
    const extras = { foo: 'bar', expires_in: '999999', exp: '9999999999', iat: '0', sub: 'admin', iss: 'https://evil.example', client_id: 'c-basic' };

    it('TR-06 ignores unknown parameters and keeps sub, exp and the TTL', async () => {
      const res = await basicToken(basic, form({ grant_type: 'client_credentials', ...extras }));
      expectMatchesOpenApi(res, 'POST', '/token');
      const claims = await expectIssued(res);
      assert.equal(res.body.expires_in, 900);
      assert.equal(claims.exp! - claims.iat!, 900);
      assert.equal(claims.sub, 'c-basic');
      assert.equal(claims.client_id, 'c-basic');
      assert.equal(claims.iss, t.config.issuer);
      assert.equal(claims.aud, ORDERS);
      assert.equal(claims.foo, undefined);
    });

    it('TR-06 gives exp - iat equal to the client TTL', async () => {
      const res = await basicToken(shortTtl, form({ grant_type: 'client_credentials', ...extras, client_id: 'c-ttl' }));
      const claims = await expectIssued(res);
      assert.equal(res.body.expires_in, 120);
      assert.equal(claims.exp! - claims.iat!, 120);
      assert.equal(claims.sub, 'c-ttl');
      assert.ok(120 <= t.config.maxAccessTokenTtl);
    });

    it('TR-06 refuses to register a TTL above MAX_ACCESS_TOKEN_TTL', async () => {
      const res = await t.agent.post('/admin/clients').set('authorization', `Bearer ${await t.adminToken()}`)
        .send({ client_name: 'long ttl', access_token_ttl: t.config.maxAccessTokenTtl + 1 });
      assert.equal(res.status, 400, res.text);
    });
  });

  describe('TR-07 method and where credentials go', () => {
    it('TR-07 answers GET /token with 405 and Allow: POST, never a token', async () => {
      const res = await t.agent.get('/token?grant_type=client_credentials').auth(basic.clientId, basic.secret);
      await expectRejected(res, 405, 'invalid_request', 'method_not_allowed');
      assert.equal(res.headers.allow, 'POST');
    });

    it('TR-07 answers invalid_request when credentials come in the query string, and never logs the secret', async () => {
      const linesBefore = t.logLines.length;
      const query = form({ client_id: post.clientId, client_secret: post.secret });
      const res = await t.agent.post(`/token?${query}`).type('form').send(form({ grant_type: 'client_credentials' }));
      await expectRejected(res, 400, 'invalid_request', 'malformed_request');
      const lines = t.logLines.slice(linesBefore);
      assert.ok(lines.length > 0, 'the request was logged');
      for (const line of lines) {
        assert.ok(!line.includes(post.secret), `log line holds the secret: ${line}`);
        assert.ok(!line.includes(encodeURIComponent(post.secret)), `log line holds the encoded secret: ${line}`);
      }
      const [denied] = await eventsOf(res, 'token.denied');
      assert.ok(!JSON.stringify(denied).includes(post.secret));
    });

    it('TR-07 answers invalid_request for query parameters even with valid Basic credentials', async () => {
      const res = await t.agent.post('/token?scope=orders:read').auth(basic.clientId, basic.secret).type('form')
        .send(form({ grant_type: 'client_credentials' }));
      await expectRejected(res, 400, 'invalid_request', 'malformed_request', 'c-basic');
    });
  });
});
