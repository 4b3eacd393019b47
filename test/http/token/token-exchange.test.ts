import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { allowInsecureRequests, ClientSecretBasic, discovery, genericGrantRequest } from 'openid-client';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { startTestService, type RegisteredClient, type TestService } from '../../helpers/start-app.ts';

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const TXN_TOKEN = 'urn:ietf:params:oauth:token-type:txn_token';
const TRUST_DOMAIN = 'trust.example';
const A = 'https://a.internal';
const B = 'https://b.internal';
const C = 'https://c.internal';
const L = 'https://loop.internal';

type Reply = { status: number; body: Record<string, unknown>; text: string };

/**
 * RFC 8693 token exchange and Txn-Tokens on the real service, for tokens of this service (a hop
 * after the first). The chain starts with the gateway's own client_credentials token for A, which
 * stands for "what A received"; the external identity provider's side is in trusted-issuer tests.
 */
describe('POST /token with token exchange (RFC 8693) and Txn-Tokens', () => {
  let t: TestService;
  let gateway: RegisteredClient;
  let a: RegisteredClient;
  let c: RegisteredClient;
  let loop: RegisteredClient;
  let plain: RegisteredClient;
  let jwks: ReturnType<typeof createRemoteJWKSet>;

  const exchange = (client: RegisteredClient, params: Record<string, string | string[]>): Promise<Reply> =>
    t.agent.post('/token').auth(client.clientId, client.secret).type('form').send({ grant_type: EXCHANGE, ...params }) as unknown as Promise<Reply>;

  const policyClient = (id: string, policy: Record<string, unknown>, extra: Record<string, unknown> = {}) => t.registerClient({
    client_id: id, grant_types: ['client_credentials', EXCHANGE], audience: [`https://${id}.internal`], scope: '', token_exchange: { subject_issuers: [t.config.issuer], ...policy }, ...extra,
  });

  async function refused(res: Reply, status: number, error: string, reason: string, clientId: string) {
    assert.equal(res.status, status, res.text);
    assert.equal(res.body.error, error, res.text);
    expectMatchesOpenApi(res as never, 'POST', '/token');
    const [denied] = await t.auditEvents({ type: 'token.denied', clientId });
    assert.equal(denied?.reason, reason);
    return res;
  }

  before(async () => {
    t = await startTestService({ TXN_TOKEN_TRUST_DOMAIN: TRUST_DOMAIN, TOKEN_EXCHANGE_MAX_DEPTH: '3' });
    jwks = createRemoteJWKSet(new URL(`${t.url}/.well-known/jwks.json`));
    gateway = await t.registerClient({ client_id: 'gateway', scope: 'orders:read orders:write', audience: [A, L] });
    a = await policyClient('svc-a', { subject_audiences: [A], audience: [C, TRUST_DOMAIN], scope: 'orders:read orders:write' });
    c = await policyClient('svc-c', { subject_audiences: [C], audience: [B, TRUST_DOMAIN], scope: 'orders:read' });
    loop = await policyClient('svc-loop', { subject_audiences: [L], audience: [L], scope: 'orders:read' });
    plain = await t.registerClient({ client_id: 'plain', audience: [B] });
  });
  after(() => t.stop());

  const gatewayToken = (aud = A) => t.tokenFor(gateway.clientId, gateway.secret, { audience: aud });

  describe('delegation along A → C → B', () => {
    it('each hop gets a token that keeps the original subject, nests the actors and only narrows', async () => {
      const received = await gatewayToken();
      const original = decodeJwt(received);

      // A → C
      const first = await exchange(a, { subject_token: received, subject_token_type: ACCESS_TOKEN, audience: C });
      assert.equal(first.status, 200, first.text);
      expectMatchesOpenApi(first as never, 'POST', '/token');
      assert.equal(first.body.issued_token_type, ACCESS_TOKEN);
      assert.equal(first.body.token_type, 'Bearer');
      const forC = (await jwtVerify(first.body.access_token as string, jwks, { issuer: t.config.issuer, audience: C, typ: 'at+jwt' })).payload;
      assert.equal(forC.sub, 'gateway');
      assert.equal(forC.client_id, 'svc-a');
      assert.deepEqual(forC.act, { sub: 'svc-a' });
      assert.equal(forC.scope, 'orders:read orders:write');
      assert.ok(forC.exp! <= original.exp!, 'never outlives the subject token');

      // C → B, narrowing the scope
      const second = await exchange(c, { subject_token: first.body.access_token as string, subject_token_type: ACCESS_TOKEN, audience: B, scope: 'orders:read' });
      assert.equal(second.status, 200, second.text);
      const forB = (await jwtVerify(second.body.access_token as string, jwks, { issuer: t.config.issuer, audience: B, typ: 'at+jwt' })).payload;
      assert.equal(forB.sub, 'gateway');
      assert.equal(forB.client_id, 'svc-c');
      assert.deepEqual(forB.act, { sub: 'svc-c', act: { sub: 'svc-a' } });
      assert.equal(forB.scope, 'orders:read');
      assert.ok(forB.exp! <= original.exp!);

      // The audit chain: who the subject is, who acted, what was exchanged for what.
      const [audited] = await t.auditEvents({ type: 'token.exchanged', clientId: 'svc-c' });
      assert.equal(audited?.outcome, 'success');
      assert.equal(audited?.jti, forB.jti);
      assert.deepEqual(audited?.audience, [B]);
      assert.deepEqual(audited?.details, {
        grant_type: EXCHANGE,
        expires_in: second.body.expires_in,
        subject: 'gateway',
        actor_chain: ['svc-c', 'svc-a'],
        subject_issuer: t.config.issuer,
        subject_jti: forC.jti,
        subject_token_type: ACCESS_TOKEN,
        requested_token_type: ACCESS_TOKEN,
        issued_token_type: ACCESS_TOKEN,
      });
      const issued = await t.auditEvents({ type: 'token.issued', clientId: 'svc-c' });
      assert.equal(issued.length, 0, 'an exchange is recorded as token.exchanged, not token.issued');
    });

    it('caps the lifetime at the subject token\'s expiry', async () => {
      const received = await gatewayToken();
      t.clock.advance(800); // the gateway token (900 s) has 100 s left
      try {
        const res = await exchange(a, { subject_token: received, subject_token_type: ACCESS_TOKEN, audience: C });
        assert.equal(res.status, 200, res.text);
        assert.ok((res.body.expires_in as number) <= 100, `expires_in ${res.body.expires_in}`);
        assert.equal(decodeJwt(res.body.access_token as string).exp, decodeJwt(received).exp);
      } finally {
        t.clock.advance(-800);
      }
    });

    it('accepts an actor token of the calling client, and refuses one of another client', async () => {
      const received = await gatewayToken();
      const aOwn = await t.tokenFor(a.clientId, a.secret);
      const ok = await exchange(a, { subject_token: received, subject_token_type: ACCESS_TOKEN, audience: C, actor_token: aOwn, actor_token_type: ACCESS_TOKEN });
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(decodeJwt(ok.body.access_token as string).act, { sub: 'svc-a' });
      // The token A got for C names svc-a as client but the gateway as subject: it is not C's own, nor A's.
      const mismatch = await exchange(c, { subject_token: ok.body.access_token as string, subject_token_type: ACCESS_TOKEN, audience: B, actor_token: aOwn, actor_token_type: ACCESS_TOKEN });
      await refused(mismatch, 400, 'invalid_grant', 'actor_mismatch', 'svc-c');
      const noType = await exchange(c, { subject_token: ok.body.access_token as string, subject_token_type: ACCESS_TOKEN, audience: B, actor_token: aOwn });
      await refused(noType, 400, 'invalid_request', 'malformed_request', 'svc-c');
    });

    it('works with openid-client\'s generic grant request against the discovery document', async () => {
      const config = await discovery(new URL(t.config.issuer), a.clientId, undefined, ClientSecretBasic(a.secret), { execute: [allowInsecureRequests] });
      const response = await genericGrantRequest(config, EXCHANGE, {
        subject_token: await gatewayToken(), subject_token_type: ACCESS_TOKEN, audience: C,
      });
      assert.equal(response.issued_token_type, ACCESS_TOKEN);
      const { payload } = await jwtVerify(response.access_token, jwks, { issuer: t.config.issuer, audience: C });
      assert.deepEqual(payload.act, { sub: 'svc-a' });
    });
  });

  describe('refusals (each an RFC error with an audit reason, never a 5xx)', () => {
    it('a client without exchange rights is unauthorized_client', async () => {
      const res = await exchange(plain, { subject_token: await gatewayToken(), subject_token_type: ACCESS_TOKEN, audience: B });
      await refused(res, 400, 'unauthorized_client', 'grant_not_allowed', 'plain');
    });

    it('a token sent to another service is not the caller\'s to exchange (foreign audience)', async () => {
      const res = await exchange(c, { subject_token: await gatewayToken(A), subject_token_type: ACCESS_TOKEN, audience: B });
      await refused(res, 400, 'invalid_request', 'subject_token_claim_aud_invalid', 'svc-c');
    });

    it('an expired subject token, and one replayed after its expiry, are invalid_request', async () => {
      const received = await gatewayToken();
      const ok = await exchange(a, { subject_token: received, subject_token_type: ACCESS_TOKEN, audience: C });
      assert.equal(ok.status, 200, ok.text);
      t.clock.advance(901);
      try {
        const res = await exchange(a, { subject_token: received, subject_token_type: ACCESS_TOKEN, audience: C });
        await refused(res, 400, 'invalid_request', 'subject_token_token_expired', 'svc-a');
      } finally {
        t.clock.advance(-901);
      }
    });

    it('an unsigned (alg none) or wrongly signed subject token is invalid_request', async () => {
      const received = await gatewayToken();
      const [header, payload] = received.split('.');
      const none = `${Buffer.from(JSON.stringify({ ...decodeProtectedHeader(received), alg: 'none' })).toString('base64url')}.${payload}.`;
      await refused(await exchange(a, { subject_token: none, subject_token_type: ACCESS_TOKEN, audience: C }), 400, 'invalid_request', 'subject_token_token_invalid', 'svc-a');
      const noneSigned = `${Buffer.from(JSON.stringify({ ...decodeProtectedHeader(received), alg: 'none' })).toString('base64url')}.${payload}.c2ln`;
      await refused(await exchange(a, { subject_token: noneSigned, subject_token_type: ACCESS_TOKEN, audience: C }), 400, 'invalid_request', 'subject_token_token_invalid', 'svc-a');
      const forged = Buffer.from(JSON.stringify({ ...decodeJwt(received), scope: 'orders:read orders:write admin:keys' })).toString('base64url');
      const tampered = `${header}.${forged}.${received.split('.')[2]}`;
      await refused(await exchange(a, { subject_token: tampered, subject_token_type: ACCESS_TOKEN, audience: C }), 400, 'invalid_request', 'subject_token_token_invalid', 'svc-a');
    });

    it('an issuer the policy does not name is unauthorized_client; a named one that is not registered is invalid_request', async () => {
      const foreign = fakeJwt({ iss: 'https://idp.unknown.example', sub: 'u1', aud: A, exp: Math.floor(Date.now() / 1000) + 60 });
      await refused(await exchange(a, { subject_token: foreign, subject_token_type: ACCESS_TOKEN, audience: C }), 400, 'unauthorized_client', 'issuer_not_allowed', 'svc-a');
      const hopeful = await policyClient('svc-hopeful', { subject_issuers: ['https://idp.unknown.example'], audience: [C], scope: '' });
      await refused(await exchange(hopeful, { subject_token: foreign, subject_token_type: ACCESS_TOKEN, audience: C }), 400, 'invalid_request', 'unknown_issuer', 'svc-hopeful');
    });

    it('scope widening is invalid_scope; an audience outside the policy is invalid_target', async () => {
      const first = await exchange(a, { subject_token: await gatewayToken(), subject_token_type: ACCESS_TOKEN, audience: C, scope: 'orders:read' });
      assert.equal(first.status, 200, first.text);
      // C's policy allows orders:read only; asking for orders:write widens.
      await refused(await exchange(c, { subject_token: first.body.access_token as string, subject_token_type: ACCESS_TOKEN, audience: B, scope: 'orders:write' }), 400, 'invalid_scope', 'scope_not_allowed', 'svc-c');
      // A's policy allows both, but the subject token carries only orders:read.
      const narrowed = await exchange(a, { subject_token: await gatewayToken(), subject_token_type: ACCESS_TOKEN, audience: C, scope: 'orders:read' });
      const wider = await policyClient('svc-wide', { subject_audiences: [C], audience: [B], scope: 'orders:read orders:write' });
      await refused(await exchange(wider, { subject_token: narrowed.body.access_token as string, subject_token_type: ACCESS_TOKEN, audience: B, scope: 'orders:write' }), 400, 'invalid_scope', 'scope_not_allowed', 'svc-wide');
      await refused(await exchange(c, { subject_token: first.body.access_token as string, subject_token_type: ACCESS_TOKEN, audience: 'https://elsewhere.internal' }), 400, 'invalid_target', 'audience_not_allowed', 'svc-c');
    });

    it('a chain deeper than TOKEN_EXCHANGE_MAX_DEPTH is invalid_grant', async () => {
      let token = await gatewayToken(L);
      for (let depth = 1; depth <= 3; depth++) {
        const res = await exchange(loop, { subject_token: token, subject_token_type: ACCESS_TOKEN, audience: L });
        assert.equal(res.status, 200, res.text);
        token = res.body.access_token as string;
      }
      await refused(await exchange(loop, { subject_token: token, subject_token_type: ACCESS_TOKEN, audience: L }), 400, 'invalid_grant', 'chain_too_deep', 'svc-loop');
    });

    it('huge tokens and deeply nested objects are refused before they are parsed', async () => {
      const huge = await exchange(a, { subject_token: 'a'.repeat(20_000), subject_token_type: ACCESS_TOKEN, audience: C });
      await refused(huge, 400, 'invalid_request', 'malformed_request', 'svc-a');
      let act = '{"sub":"x"}';
      for (let i = 0; i < 500; i++) act = `{"sub":"x","act":${act}}`;
      const deep = `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from(`{"iss":"${t.config.issuer}","act":${act}}`).toString('base64url')}.c2ln`;
      await refused(await exchange(a, { subject_token: deep, subject_token_type: ACCESS_TOKEN, audience: C }), 400, 'invalid_request', 'subject_token_too_deep', 'svc-a');
    });

    it('missing or unsupported parameters are invalid_request', async () => {
      await refused(await exchange(a, { subject_token_type: ACCESS_TOKEN, audience: C }), 400, 'invalid_request', 'missing_subject_token', 'svc-a');
      await refused(await exchange(a, { subject_token: await gatewayToken(), subject_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }), 400, 'invalid_request', 'unsupported_token_type', 'svc-a');
      await refused(await exchange(a, { subject_token: await gatewayToken(), subject_token_type: ACCESS_TOKEN, requested_token_type: 'urn:ietf:params:oauth:token-type:saml2' }), 400, 'invalid_request', 'unsupported_token_type', 'svc-a');
      await refused(await exchange(a, { subject_token: 'not-a-jwt', subject_token_type: ACCESS_TOKEN }), 400, 'invalid_request', 'subject_token_malformed', 'svc-a');
      const twice = await exchange(a, { subject_token: [await gatewayToken(), await gatewayToken()], subject_token_type: ACCESS_TOKEN });
      await refused(twice, 400, 'invalid_request', 'duplicate_parameter', 'svc-a');
    });

    it('an exchanged token is not accepted by the admin API, and a policy cannot reach it', async () => {
      const res = await exchange(a, { subject_token: await gatewayToken(), subject_token_type: ACCESS_TOKEN, audience: C });
      const admin = await t.agent.get('/admin/clients').set('authorization', `Bearer ${res.body.access_token as string}`);
      assert.equal(admin.status, 401);
      const bad = await t.agent.post('/admin/clients').set('authorization', `Bearer ${await t.adminToken()}`).send({
        client_name: 'x', grant_types: [EXCHANGE],
        token_exchange: { subject_issuers: [t.config.issuer], subject_audiences: [A], audience: [`${t.config.issuer}/admin`], scope: 'admin:keys' },
      });
      assert.equal(bad.status, 400, bad.text);
      const fields = (bad.body.invalid_params as Array<{ name: string }>).map((e) => e.name).sort();
      assert.deepEqual(fields, ['token_exchange.audience.0', 'token_exchange.scope']);
    });

    it('registration refuses a policy without the grant type, and the grant type without a policy', async () => {
      const admin = `Bearer ${await t.adminToken()}`;
      const noPolicy = await t.agent.post('/admin/clients').set('authorization', admin).send({ client_name: 'x', grant_types: [EXCHANGE] });
      assert.equal(noPolicy.status, 400);
      assert.deepEqual((noPolicy.body.invalid_params as Array<{ name: string }>).map((e) => e.name), ['token_exchange']);
      const noGrant = await t.agent.post('/admin/clients').set('authorization', admin).send({
        client_name: 'x', token_exchange: { subject_issuers: [t.config.issuer], subject_audiences: [A], audience: [C], scope: '' },
      });
      assert.equal(noGrant.status, 400);
      assert.deepEqual((noGrant.body.invalid_params as Array<{ name: string }>).map((e) => e.name), ['grant_types']);
      const noOwnAudience = await t.agent.post('/admin/clients').set('authorization', admin).send({
        client_name: 'x', grant_types: [EXCHANGE], token_exchange: { subject_issuers: [t.config.issuer], audience: [C], scope: '' },
      });
      assert.equal(noOwnAudience.status, 400);
      assert.deepEqual((noOwnAudience.body.invalid_params as Array<{ name: string }>).map((e) => e.name), ['token_exchange.subject_audiences']);
      // PATCH: the policy is shown, changed and audited like any other field.
      const patched = await t.agent.patch(`/admin/clients/${loop.clientId}`).set('authorization', admin)
        .send({ token_exchange: { subject_issuers: [t.config.issuer], subject_audiences: [L], audience: [L], scope: '' } });
      assert.equal(patched.status, 200, patched.text);
      assert.deepEqual(patched.body.token_exchange, { subject_issuers: [t.config.issuer], subject_audiences: [L], audience: [L], scope: '' });
      const [updated] = await t.auditEvents({ type: 'client.updated', clientId: loop.clientId });
      assert.deepEqual((updated?.details as { changed: string[] }).changed, ['token_exchange']);
      const cleared = await t.agent.patch(`/admin/clients/${loop.clientId}`).set('authorization', admin).send({ token_exchange: null });
      assert.equal(cleared.status, 400, 'the grant type still needs a policy');
    });
  });

  describe('Txn-Tokens (draft-ietf-oauth-transaction-tokens)', () => {
    const context = JSON.stringify({ req_ip: '203.0.113.7', authn: 'pwd' });
    const details = JSON.stringify({ action: 'BUY', ticker: 'MSFT', quantity: '100' });
    const txnRequest = async (client: RegisteredClient, extra: Record<string, string> = {}) => exchange(client, {
      subject_token: await gatewayToken(), subject_token_type: ACCESS_TOKEN, requested_token_type: TXN_TOKEN,
      audience: TRUST_DOMAIN, scope: 'orders:read', request_context: context, request_details: details, ...extra,
    });

    async function verifyTxn(token: string): Promise<JWTPayload> {
      const { payload, protectedHeader } = await jwtVerify(token, jwks, { audience: TRUST_DOMAIN, typ: 'txntoken+jwt' });
      assert.equal(protectedHeader.typ, 'txntoken+jwt');
      return payload;
    }

    it('issues a Txn-Token for the trust domain, and a replacement that keeps txn, sub and context', async () => {
      const res = await txnRequest(a);
      assert.equal(res.status, 200, res.text);
      expectMatchesOpenApi(res as never, 'POST', '/token');
      assert.equal(res.body.token_type, 'N_A');
      assert.equal(res.body.issued_token_type, TXN_TOKEN);
      assert.ok((res.body.expires_in as number) <= 300);
      const txn = await verifyTxn(res.body.access_token as string);
      assert.equal(txn.aud, TRUST_DOMAIN);
      assert.equal(txn.sub, 'gateway');
      assert.equal(txn.scope, 'orders:read');
      assert.equal(txn.req_wl, 'svc-a');
      assert.match(txn.txn as string, /^[0-9a-f-]{36}$/);
      assert.deepEqual(txn.rctx, JSON.parse(context));
      assert.deepEqual(txn.tctx, JSON.parse(details));
      assert.equal(txn.client_id, undefined, 'a Txn-Token is not an access token');
      assert.equal(txn.cnf, undefined);

      const replaced = await exchange(c, {
        subject_token: res.body.access_token as string, subject_token_type: TXN_TOKEN, requested_token_type: TXN_TOKEN,
        audience: TRUST_DOMAIN, scope: 'orders:read', request_details: JSON.stringify({ ...JSON.parse(details), step: 'settle' }),
      });
      assert.equal(replaced.status, 200, replaced.text);
      const second = await verifyTxn(replaced.body.access_token as string);
      assert.equal(second.txn, txn.txn);
      assert.equal(second.sub, txn.sub);
      assert.equal(second.req_wl, 'svc-a svc-c');
      assert.deepEqual(second.rctx, txn.rctx);
      assert.deepEqual(second.tctx, { ...JSON.parse(details), step: 'settle' });
      assert.ok(second.exp! <= txn.exp!);
      const [audited] = await t.auditEvents({ type: 'token.exchanged', clientId: 'svc-c' });
      assert.equal((audited?.details as { txn: string }).txn, txn.txn);
      assert.deepEqual((audited?.details as { actor_chain: string[] }).actor_chain, ['svc-c', 'svc-a']);
    });

    it('refuses a missing or malformed context, a changed context, the wrong trust domain and scope widening', async () => {
      await refused(await txnRequest(a, { request_context: '' }), 400, 'invalid_request', 'context_invalid', 'svc-a');
      const withoutContext = await exchange(a, {
        subject_token: await gatewayToken(), subject_token_type: ACCESS_TOKEN, requested_token_type: TXN_TOKEN, audience: TRUST_DOMAIN, scope: 'orders:read',
      });
      await refused(withoutContext, 400, 'invalid_request', 'context_missing', 'svc-a');
      await refused(await txnRequest(a, { request_context: '[1,2]' }), 400, 'invalid_request', 'context_invalid', 'svc-a');
      await refused(await txnRequest(a, { request_details: '{"a":' }), 400, 'invalid_request', 'context_invalid', 'svc-a');
      await refused(await txnRequest(a, { audience: 'other.example' }), 400, 'invalid_target', 'wrong_trust_domain', 'svc-a');
      await refused(await txnRequest(a, { scope: 'orders:delete' }), 400, 'invalid_scope', 'scope_not_allowed', 'svc-a');
      await refused(await txnRequest(a, { scope: '' }), 400, 'invalid_request', 'invalid_scope', 'svc-a');

      const issued = await txnRequest(a);
      const changed = await exchange(c, {
        subject_token: issued.body.access_token as string, subject_token_type: TXN_TOKEN, requested_token_type: TXN_TOKEN,
        audience: TRUST_DOMAIN, scope: 'orders:read', request_details: JSON.stringify({ quantity: '1000' }),
      });
      await refused(changed, 400, 'invalid_request', 'context_changed', 'svc-c');
      // A Txn-Token is never traded for an access token.
      await refused(await exchange(c, { subject_token: issued.body.access_token as string, subject_token_type: TXN_TOKEN, audience: B }), 400, 'invalid_request', 'unsupported_token_type', 'svc-c');
      // Nor DPoP-bound.
      const dpop = await t.agent.post('/token').auth(a.clientId, a.secret).set('DPoP', 'x.y.z').type('form').send({
        grant_type: EXCHANGE, subject_token: await gatewayToken(), subject_token_type: ACCESS_TOKEN, requested_token_type: TXN_TOKEN,
        audience: TRUST_DOMAIN, scope: 'orders:read', request_context: context,
      });
      await refused(dpop as never, 400, 'invalid_request', 'malformed_request', 'svc-a');
    });

    it('refuses a Txn-Token of another trust domain', async () => {
      const OTHER = 'https://other-domain.example';
      const x = await policyClient('svc-x', { subject_audiences: [A], audience: [OTHER, TRUST_DOMAIN], scope: 'orders:read' });
      // A second instance of the same deployment (same issuer, database and keys) serving another trust domain.
      const other = await startTestService({ ISSUER: t.config.issuer, TXN_TOKEN_TRUST_DOMAIN: OTHER }, { database: t.database, keysDir: t.keysDir, migrate: false });
      try {
        const foreign = await other.agent.post('/token').auth(x.clientId, x.secret).type('form').send({
          grant_type: EXCHANGE, subject_token: await gatewayToken(), subject_token_type: ACCESS_TOKEN, requested_token_type: TXN_TOKEN,
          audience: OTHER, scope: 'orders:read', request_context: context,
        });
        assert.equal(foreign.status, 200, foreign.text);
        assert.equal(decodeJwt(foreign.body.access_token).aud, OTHER);
        const replaced = await exchange(x, {
          subject_token: foreign.body.access_token, subject_token_type: TXN_TOKEN, requested_token_type: TXN_TOKEN, audience: TRUST_DOMAIN, scope: 'orders:read',
        });
        await refused(replaced, 400, 'invalid_request', 'wrong_trust_domain', 'svc-x');
      } finally {
        await other.stop();
      }
    });
  });
});

/** A compact JWS with a made-up signature: enough for tests that are refused before any key is used. */
function fakeJwt(payload: Record<string, unknown>): string {
  return `${Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: 'k1' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.c2ln`;
}
