import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, decodeJwt, generateKeyPair, jwtVerify } from 'jose';
import { expectMatchesOpenApi } from '../helpers/openapi.ts';
import { startFakeIdentityProvider, type FakeIdentityProvider } from '../helpers/fake-idp.ts';
import { startTestService, type RegisteredClient, type TestService } from '../helpers/start-app.ts';

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const A = 'https://a.internal';
const B = 'https://b.internal';
const C = 'https://c.internal';

type Reply = { status: number; body: Record<string, unknown>; text: string };

/**
 * The first hop of a call chain: a user's token from an external identity provider (a fake one on
 * loopback, registered as a trusted issuer) exchanged at POST /token, then carried on A → C → B;
 * and each bad external subject token refused with its RFC 8693 error and audit reason.
 */
describe('token exchange with a subject token of a trusted external issuer', () => {
  let t: TestService;
  let idp: FakeIdentityProvider;
  let admin: string;
  let issuerId: string;
  let a: RegisteredClient;
  let c: RegisteredClient;

  const exchange = (client: RegisteredClient, params: Record<string, string>): Promise<Reply> =>
    t.agent.post('/token').auth(client.clientId, client.secret).type('form').send({ grant_type: EXCHANGE, ...params }) as unknown as Promise<Reply>;
  const userToken = (claims: Record<string, unknown> = {}, options: Parameters<FakeIdentityProvider['sign']>[1] = {}) =>
    idp.sign({ sub: 'alice', aud: A, scope: 'openid orders:read orders:write', ...claims }, { now: t.clock.now(), ...options });

  before(async () => {
    [t, idp] = await Promise.all([startTestService({ ALLOW_INSECURE_JWKS_URI: 'true' }), startFakeIdentityProvider(['RS256'])]);
    admin = `Bearer ${await t.adminToken()}`;
    const res = await t.agent.post('/admin/trusted-issuers').set('authorization', admin)
      .send({ issuer: idp.issuer, jwks_uri: idp.jwksUri, audiences: [A], description: 'user sign-in' });
    assert.equal(res.status, 201, res.text);
    issuerId = res.body.id;
    const policyClient = (id: string, policy: Record<string, unknown>) => t.registerClient({
      client_id: id, grant_types: ['client_credentials', EXCHANGE], audience: [`https://${id}.internal`], scope: '', token_exchange: policy,
    });
    a = await policyClient('svc-a', { subject_issuers: [idp.issuer], audience: [C], scope: 'orders:read orders:write' });
    c = await policyClient('svc-c', { subject_issuers: [t.config.issuer], subject_audiences: [C], audience: [B], scope: 'orders:read' });
  });
  after(async () => {
    await t?.stop();
    await idp?.close();
  });

  it('carries the user of the identity provider along A → C → B: sub, nested act, narrowed scope, capped exp, audited issuer', async () => {
    const received = await userToken({ jti: 'user-token-1' });
    const jwks = createRemoteJWKSet(new URL(`${t.url}/.well-known/jwks.json`));
    const first = await exchange(a, { subject_token: received, subject_token_type: ACCESS_TOKEN, audience: C });
    assert.equal(first.status, 200, first.text);
    expectMatchesOpenApi(first as never, 'POST', '/token');
    const forC = (await jwtVerify(first.body.access_token as string, jwks, { issuer: t.config.issuer, audience: C, typ: 'at+jwt' })).payload;
    assert.equal(forC.sub, 'alice');
    assert.deepEqual(forC.act, { sub: 'svc-a' });
    assert.equal(forC.client_id, 'svc-a');
    assert.ok(forC.exp! <= decodeJwt(received).exp!, 'never outlives the user token');
    const [audited] = await t.auditEvents({ type: 'token.exchanged', clientId: 'svc-a' });
    assert.equal(audited?.details?.subject_issuer, idp.issuer);
    assert.equal(audited?.details?.subject_jti, 'user-token-1');
    assert.equal(audited?.details?.subject, 'alice');

    const second = await exchange(c, { subject_token: first.body.access_token as string, subject_token_type: ACCESS_TOKEN, audience: B, scope: 'orders:read' });
    assert.equal(second.status, 200, second.text);
    const forB = (await jwtVerify(second.body.access_token as string, jwks, { issuer: t.config.issuer, audience: B, typ: 'at+jwt' })).payload;
    assert.equal(forB.sub, 'alice');
    assert.deepEqual(forB.act, { sub: 'svc-c', act: { sub: 'svc-a' } });
    assert.equal(forB.scope, 'orders:read');
    assert.ok(forB.exp! <= decodeJwt(received).exp!);
  });

  const forger = generateKeyPair('RS256');
  const bad: Array<[string, () => Promise<string>, string]> = [
    ['an expired token', () => userToken({ exp: Math.floor(t.clock.now().getTime() / 1000) - 120 }), 'subject_token_token_expired'],
    ['an unsigned token (alg none)', async () => {
      const [, payload] = (await userToken()).split('.');
      return `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${payload}.`;
    }, 'subject_token_alg_not_allowed'],
    ['a token signed by another key under the issuer\'s kid', async () => userToken({}, { key: { privateKey: (await forger).privateKey, alg: 'RS256' }, kid: idp.publicJwks().keys[0]!.kid }), 'subject_token_invalid_signature'],
    ['a token for a foreign audience', () => userToken({ aud: 'https://elsewhere.example' }), 'subject_token_audience_mismatch'],
    ['a token without a subject', () => userToken({ sub: undefined }), 'subject_token_subject_missing'],
  ];
  for (const [name, make, reason] of bad) {
    it(`refuses ${name} with invalid_request and the audit reason ${reason}`, async () => {
      const res = await exchange(a, { subject_token: await make(), subject_token_type: ACCESS_TOKEN, audience: C });
      assert.equal(res.status, 400, res.text);
      assert.equal(res.body.error, 'invalid_request');
      assert.equal(res.body.access_token, undefined);
      expectMatchesOpenApi(res as never, 'POST', '/token');
      const [denied] = (await t.auditEvents({ type: 'token.denied', clientId: 'svc-a' })).filter((e) => e.requestId === (res as unknown as { headers: Record<string, string> }).headers['x-request-id']);
      assert.equal(denied?.reason, reason);
    });
  }

  it('RFC 7523 §2.1: takes the user\'s token as a jwt-bearer assertion, and answers invalid_grant for an expired one', async () => {
    const jb = await t.registerClient({
      client_id: 'svc-jb', grant_types: ['client_credentials', JWT_BEARER], audience: ['https://svc-jb.internal'], scope: '',
      token_exchange: { subject_issuers: [idp.issuer], audience: [C], scope: 'orders:read' },
    });
    const grant = (assertion: string) => t.agent.post('/token').auth(jb.clientId, jb.secret).type('form')
      .send({ grant_type: JWT_BEARER, assertion, audience: C, scope: 'orders:read' }) as unknown as Promise<Reply>;
    const ok = await grant(await userToken());
    assert.equal(ok.status, 200, ok.text);
    expectMatchesOpenApi(ok as never, 'POST', '/token');
    const claims = decodeJwt(ok.body.access_token as string);
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.aud, C);
    assert.equal(claims.scope, 'orders:read');
    const expired = await grant(await userToken({ exp: Math.floor(t.clock.now().getTime() / 1000) - 120 }));
    assert.equal(expired.status, 400, expired.text);
    assert.equal(expired.body.error, 'invalid_grant');
    assert.equal((await t.auditEvents({ type: 'token.denied', clientId: 'svc-jb' }))[0]?.reason, 'subject_token_token_expired');
  });

  it('RFC 8693 §4.4: honours may_act in the subject token (only the actor it names may exchange it)', async () => {
    const forA = await userToken({ may_act: { sub: 'svc-a' } });
    const ok = await exchange(a, { subject_token: forA, subject_token_type: ACCESS_TOKEN, audience: C });
    assert.equal(ok.status, 200, ok.text);
    const forSomeoneElse = await userToken({ may_act: { sub: 'svc-z' } });
    const refused = await exchange(a, { subject_token: forSomeoneElse, subject_token_type: ACCESS_TOKEN, audience: C });
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.body.error, 'invalid_grant');
    assert.equal((await t.auditEvents({ type: 'token.denied', clientId: 'svc-a' }))[0]?.reason, 'may_act_mismatch');
    const malformed = await exchange(a, { subject_token: await userToken({ may_act: 'svc-a' }), subject_token_type: ACCESS_TOKEN, audience: C });
    assert.equal(malformed.body.error, 'invalid_request');
  });

  it('takes an ID token as subject (no scope: only the policy bounds it), but never for a Txn-Token (its scope is unknown)', async () => {
    const idToken = await userToken({ scope: undefined, aud: A, nonce: 'n-1' });
    const res = await exchange(a, { subject_token: idToken, subject_token_type: 'urn:ietf:params:oauth:token-type:id_token', audience: C, scope: 'orders:read' });
    assert.equal(res.status, 200, res.text);
    assert.equal(decodeJwt(res.body.access_token as string).scope, 'orders:read');
    const txnClient = await t.registerClient({
      client_id: 'svc-gw', grant_types: [EXCHANGE], audience: [], scope: '',
      token_exchange: { subject_issuers: [idp.issuer], audience: [t.config.issuer], scope: 'orders:read' },
    });
    const txn = await exchange(txnClient, {
      subject_token: idToken, subject_token_type: 'urn:ietf:params:oauth:token-type:id_token', requested_token_type: 'urn:ietf:params:oauth:token-type:txn_token',
      audience: t.config.issuer, scope: 'orders:read', request_context: '{"req_ip":"198.51.100.1"}',
    });
    assert.equal(txn.status, 400, txn.text);
    assert.equal(txn.body.error, 'invalid_scope');
    assert.equal((await t.auditEvents({ type: 'token.denied', clientId: 'svc-gw' }))[0]?.reason, 'subject_scope_unknown');
    // The user's access token does carry a scope: a Txn-Token for the trust domain (ISSUER by default).
    const fromUser = await exchange(txnClient, {
      subject_token: await userToken(), subject_token_type: ACCESS_TOKEN, requested_token_type: 'urn:ietf:params:oauth:token-type:txn_token',
      audience: t.config.issuer, scope: 'orders:read', request_context: '{"req_ip":"198.51.100.1"}',
    });
    assert.equal(fromUser.status, 200, fromUser.text);
    const jwks = createRemoteJWKSet(new URL(`${t.url}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(fromUser.body.access_token as string, jwks, { audience: t.config.issuer, typ: 'txntoken+jwt' });
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.req_wl, 'svc-gw');
  });

  it('refuses the issuer\'s tokens at once when it is disabled or deleted (unknown_issuer)', async () => {
    const received = await userToken();
    const off = await t.agent.patch(`/admin/trusted-issuers/${issuerId}`).set('authorization', admin).send({ disabled: true });
    assert.equal(off.status, 200, off.text);
    const res = await exchange(a, { subject_token: received, subject_token_type: ACCESS_TOKEN, audience: C });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.body.error, 'invalid_request');
    const [denied] = await t.auditEvents({ type: 'token.denied', clientId: 'svc-a' });
    assert.equal(denied?.reason, 'unknown_issuer');
    const on = await t.agent.patch(`/admin/trusted-issuers/${issuerId}`).set('authorization', admin).send({ disabled: false });
    assert.equal(on.status, 200);
    assert.equal((await exchange(a, { subject_token: received, subject_token_type: ACCESS_TOKEN, audience: C })).status, 200);
    const gone = await t.agent.delete(`/admin/trusted-issuers/${issuerId}`).set('authorization', admin);
    assert.equal(gone.status, 204);
    const after = await exchange(a, { subject_token: received, subject_token_type: ACCESS_TOKEN, audience: C });
    assert.equal(after.body.error, 'invalid_request');
    assert.equal((await t.auditEvents({ type: 'token.denied', clientId: 'svc-a' }))[0]?.reason, 'unknown_issuer');
  });
});
