import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, decodeJwt, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import * as oidc from 'openid-client';
import type { Response } from 'supertest';
import { CLIENT_ASSERTION_TYPE, createSigningKey, jwkThumbprint, signAssertion, signDpopProof, type SigningKey } from '../../helpers/assertion.ts';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { startTestService, type RegisteredClient, type TestService } from '../../helpers/start-app.ts';

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const TXN_TOKEN = 'urn:ietf:params:oauth:token-type:txn_token';
const TRUST_DOMAIN = 'trust.example';
const ORDERS = 'https://orders.internal';
const C = 'https://c.internal';
const JWT_ANSWER = 'application/token-introspection+jwt';

/**
 * RFC 7662 introspection and RFC 7009 revocation on the real service: what an active token shows
 * (act and cnf included), every inactive case, who may introspect, revocation by the owner, by
 * another client (nothing revoked, audited) and by an admin for every token issued before T, the
 * revoked token refused by the admin API and token exchange too, openid-client against discovery.
 */
describe('POST /introspect and POST /revoke', () => {
  let t: TestService;
  let rs: RegisteredClient;
  let svc: RegisteredClient;
  let other: RegisteredClient;
  let exchanger: RegisteredClient;
  let gateway: RegisteredClient;
  let dpopKey: SigningKey;
  let jwks: ReturnType<typeof createRemoteJWKSet>;

  before(async () => {
    t = await startTestService({ TXN_TOKEN_TRUST_DOMAIN: TRUST_DOMAIN, RATE_LIMIT_AUTH_FAILURES: '0' });
    jwks = createRemoteJWKSet(new URL(`${t.url}/.well-known/jwks.json`));
    dpopKey = await createSigningKey('ES256');
    rs = await t.registerClient({ client_id: 'rs-orders', introspection: true, scope: '', audience: [] });
    svc = await t.registerClient({ client_id: 'svc-orders', audience: [ORDERS] });
    gateway = await t.registerClient({ client_id: 'gateway', audience: ['https://a.internal'] });
    other = await t.registerClient({ client_id: 'svc-other' });
    exchanger = await t.registerClient({
      client_id: 'svc-a', grant_types: ['client_credentials', EXCHANGE], audience: ['https://svc-a.internal'], scope: '',
      token_exchange: { subject_issuers: [t.config.issuer], subject_audiences: ['https://a.internal'], audience: [C, TRUST_DOMAIN], scope: 'orders:read' },
    });
  });
  after(() => t.stop());

  const introspect = (token: string, who: RegisteredClient = rs, extra: Record<string, string> = {}) =>
    t.agent.post('/introspect').auth(who.clientId, who.secret).type('form').send({ token, ...extra });
  const revoke = (token: string, who: RegisteredClient = svc, extra: Record<string, string> = {}) =>
    t.agent.post('/revoke').auth(who.clientId, who.secret).type('form').send({ token, ...extra });
  const tokenOf = (who: RegisteredClient = svc, params: Record<string, string> = {}) => t.tokenFor(who.clientId, who.secret, params);

  async function eventOf(res: Response, type: string) {
    const events = (await t.auditEvents({ type })).filter((e) => e.requestId === res.headers['x-request-id']);
    assert.equal(events.length, 1, `one ${type} event for the request`);
    return events[0]!;
  }

  async function expectInactive(token: string, reason: string) {
    const res = await introspect(token);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { active: false }, 'an inactive token shows nothing else (RFC 7662 §2.2)');
    expectMatchesOpenApi(res, 'POST', '/introspect');
    const event = await eventOf(res, 'token.introspected');
    assert.equal(event.outcome, 'success');
    assert.equal((event.details as Record<string, unknown>).inactive_reason, reason);
    assert.ok(!JSON.stringify(event).includes(token), 'the token itself is never audited');
    return event;
  }

  describe('introspection', () => {
    it('shows an active token with its claims and token_type, audited with its jti and never the token', async () => {
      const token = await tokenOf(svc, { scope: 'orders:read', audience: ORDERS });
      const res = await introspect(token, rs, { token_type_hint: 'access_token' });
      assert.equal(res.status, 200, res.text);
      expectMatchesOpenApi(res, 'POST', '/introspect');
      assert.equal(res.headers['cache-control'], 'no-store');
      const claims = decodeJwt(token);
      const body = res.body as Record<string, unknown>;
      assert.equal(body.client_id, 'svc-orders');
      assert.equal(body.scope, 'orders:read');
      assert.deepEqual(body, { active: true, ...claims, token_type: 'Bearer' });
      const event = await eventOf(res, 'token.introspected');
      assert.equal(event.clientId, 'rs-orders');
      assert.equal(event.jti, claims.jti);
      assert.equal(event.authMethod, 'client_secret_basic');
      assert.deepEqual(event.details, { active: true, format: 'json', token_client_id: 'svc-orders' });
      assert.ok(!JSON.stringify(event).includes(token));
    });

    it('accepts any token_type_hint, the RFC lets the server ignore it', async () => {
      const token = await tokenOf();
      for (const hint of ['refresh_token', 'something_else']) assert.equal((await introspect(token, rs, { token_type_hint: hint })).body.active, true);
    });

    it('shows cnf.jkt and token_type DPoP for a DPoP-bound token', async () => {
      const proof = await signDpopProof({ key: dpopKey, htu: `${t.config.issuer}/token`, now: Math.floor(t.clock.now().getTime() / 1000) });
      const issued = await t.agent.post('/token').auth(svc.clientId, svc.secret).type('form').set('DPoP', proof).send('grant_type=client_credentials');
      assert.equal(issued.status, 200, issued.text);
      const res = await introspect(issued.body.access_token);
      assert.equal(res.body.active, true);
      assert.deepEqual(res.body.cnf, { jkt: await jwkThumbprint(dpopKey) });
      assert.equal(res.body.token_type, 'DPoP');
      expectMatchesOpenApi(res, 'POST', '/introspect');
    });

    it('shows the act chain of an exchanged token (RFC 8693 §4.1)', async () => {
      const subject = await tokenOf(gateway, { scope: 'orders:read' });
      const exchanged = await t.agent.post('/token').auth(exchanger.clientId, exchanger.secret).type('form')
        .send({ grant_type: EXCHANGE, subject_token: subject, subject_token_type: ACCESS_TOKEN, audience: C });
      assert.equal(exchanged.status, 200, exchanged.text);
      const res = await introspect(exchanged.body.access_token);
      assert.equal(res.body.active, true);
      assert.equal(res.body.sub, 'gateway');
      assert.equal(res.body.client_id, 'svc-a');
      assert.deepEqual(res.body.act, { sub: 'svc-a' });
      expectMatchesOpenApi(res, 'POST', '/introspect');
    });

    it('answers a signed JWT when asked (RFC 9701), verifiable against our JWKS', async () => {
      const token = await tokenOf();
      const res = await introspect(token).set('Accept', JWT_ANSWER);
      assert.equal(res.status, 200, res.text);
      assert.match(res.headers['content-type']!, /^application\/token-introspection\+jwt/);
      expectMatchesOpenApi(res, 'POST', '/introspect');
      const { payload, protectedHeader } = await jwtVerify(res.text, jwks, { issuer: t.config.issuer, audience: 'rs-orders', typ: 'token-introspection+jwt' });
      assert.equal(protectedHeader.typ, 'token-introspection+jwt');
      assert.equal(payload.sub, undefined, 'not a token: no sub');
      assert.equal(payload.exp, undefined, 'not a token: no exp');
      const answer = payload.token_introspection as Record<string, unknown>;
      assert.equal(answer.active, true);
      assert.equal(answer.jti, decodeJwt(token).jti);
      assert.equal((await eventOf(res, 'token.introspected')).details!.format, 'jwt');
      // JSON stays the answer when the caller accepts both.
      const both = await introspect(token).set('Accept', `application/json, ${JWT_ANSWER}`);
      assert.equal(both.body.active, true);
    });

    it('answers active: false for malformed, foreign, unknown-kid and wrongly signed tokens', async () => {
      await expectInactive('not-a-jwt', 'malformed_token');
      await expectInactive('a.b.c', 'malformed_token');
      const { privateKey } = await generateKeyPair('ES256');
      const claims = { ...decodeJwt(await tokenOf()) };
      const foreign = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'someone-elses-key' }).sign(privateKey);
      await expectInactive(foreign, 'unknown_kid');
      const ourKid = (await t.agent.get('/.well-known/jwks.json')).body.keys[0].kid as string;
      const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: ourKid }).sign((await generateKeyPair('RS256')).privateKey);
      await expectInactive(forged, 'token_invalid');
      const noKid = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' }).sign(privateKey);
      await expectInactive(noKid, 'unknown_kid');
    });

    it('answers active: false for an expired token', async () => {
      const token = await tokenOf();
      t.clock.advance(3600);
      try {
        const event = await expectInactive(token, 'token_expired');
        assert.equal(event.jti, decodeJwt(token).jti, 'a token of ours, expired: its jti is audited');
      } finally {
        t.clock.advance(-3600);
      }
    });

    it('answers active: false for a Txn-Token, which is not an access token to introspect', async () => {
      const subject = await tokenOf(gateway, { scope: 'orders:read' });
      const txn = await t.agent.post('/token').auth(exchanger.clientId, exchanger.secret).type('form').send({
        grant_type: EXCHANGE, subject_token: subject, subject_token_type: ACCESS_TOKEN, requested_token_type: TXN_TOKEN, audience: TRUST_DOMAIN,
        scope: 'orders:read', request_context: JSON.stringify({ req_ip: '203.0.113.7' }),
      });
      assert.equal(txn.status, 200, txn.text);
      await expectInactive(txn.body.access_token, 'claim_typ_invalid');
    });

    it('answers active: false once the token\'s client is disabled or deleted', async () => {
      const gone = await t.registerClient({ client_id: 'svc-gone' });
      const token = await tokenOf(gone);
      assert.equal((await introspect(token)).body.active, true);
      const admin = `Bearer ${await t.adminToken()}`;
      assert.equal((await t.agent.patch('/admin/clients/svc-gone').set('authorization', admin).send({ disabled: true })).status, 200);
      await expectInactive(token, 'client_inactive');
      assert.equal((await t.agent.patch('/admin/clients/svc-gone').set('authorization', admin).send({ disabled: false })).status, 200);
      assert.equal((await introspect(token)).body.active, true);
      assert.equal((await t.agent.delete('/admin/clients/svc-gone').set('authorization', admin)).status, 204);
      await expectInactive(token, 'client_inactive');
    });

    it('refuses bad client credentials with 401 invalid_client, audited', async () => {
      const token = await tokenOf();
      const res = await t.agent.post('/introspect').auth(rs.clientId, 'wrong-secret').type('form').send({ token });
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'invalid_client');
      assert.match(res.headers['www-authenticate']!, /^Basic realm=/);
      expectMatchesOpenApi(res, 'POST', '/introspect');
      const event = await eventOf(res, 'token.introspected');
      assert.equal(event.outcome, 'failure');
      assert.equal(event.reason, 'invalid_secret');
      const none = await t.agent.post('/introspect').type('form').send({ token });
      assert.equal(none.status, 400);
      assert.equal(none.body.error, 'invalid_request');
    });

    it('refuses a client that is not allowed to introspect (default deny)', async () => {
      const token = await tokenOf(other);
      const res = await introspect(token, svc);
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'unauthorized_client');
      expectMatchesOpenApi(res, 'POST', '/introspect');
      assert.equal((await eventOf(res, 'token.introspected')).reason, 'introspection_not_allowed');
    });

    it('authenticates a private_key_jwt resource server as /token does, its assertion single-use', async () => {
      const key = await createSigningKey('ES256');
      await t.registerClient({ client_id: 'rs-pkj', introspection: true, token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.publicJwk] } });
      const assertion = await signAssertion({ clientId: 'rs-pkj', audience: t.config.issuer, key, now: Math.floor(t.clock.now().getTime() / 1000) });
      const token = await tokenOf();
      const send = () => t.agent.post('/introspect').type('form')
        .send({ token, client_id: 'rs-pkj', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion });
      const res = await send();
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.active, true);
      assert.equal((await eventOf(res, 'token.introspected')).authMethod, 'private_key_jwt');
      const replayed = await send();
      assert.equal(replayed.status, 401, 'the assertion was used once already');
      assert.equal(replayed.body.error, 'invalid_client');
      assert.equal((await eventOf(replayed, 'token.introspected')).reason, 'assertion_replayed');
    });

    it('requires the token parameter', async () => {
      const res = await t.agent.post('/introspect').auth(rs.clientId, rs.secret).type('form').send({});
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_request');
      assert.equal((await eventOf(res, 'token.introspected')).reason, 'missing_token');
    });
  });

  describe('revocation', () => {
    it('revokes a token for its own client: 200, inactive at once, audited with its jti', async () => {
      const token = await tokenOf();
      const res = await revoke(token, svc, { token_type_hint: 'access_token' });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.text, '');
      expectMatchesOpenApi(res, 'POST', '/revoke');
      const event = await eventOf(res, 'token.revoked');
      assert.equal(event.outcome, 'success');
      assert.equal(event.clientId, 'svc-orders');
      assert.equal(event.jti, decodeJwt(token).jti);
      assert.ok(!JSON.stringify(event).includes(token));
      await expectInactive(token, 'token_revoked');
      const stored = await t.container.uow.stores.revocations.listInForce(t.clock.now());
      assert.equal(stored.tokens.find((r) => r.jti === decodeJwt(token).jti)?.expiresAt.getTime(), decodeJwt(token).exp! * 1000, 'kept until the token\'s own exp');
      const again = await revoke(token);
      assert.equal(again.status, 200);
      assert.equal((await eventOf(again, 'token.revoked')).reason, 'already_revoked');
    });

    it('revokes nothing for another client\'s token, answers 200 and audits the attempt', async () => {
      const token = await tokenOf(other);
      const res = await revoke(token, svc);
      assert.equal(res.status, 200);
      const event = await eventOf(res, 'token.revoked');
      assert.equal(event.outcome, 'failure');
      assert.equal(event.reason, 'not_token_owner');
      assert.equal(event.clientId, 'svc-orders');
      assert.equal((event.details as Record<string, unknown>).token_client_id, 'svc-other');
      assert.equal((await introspect(token)).body.active, true, 'still active');
    });

    it('answers 200 for unknown and malformed tokens, and refuses bad credentials and a missing token', async () => {
      for (const [token, reason] of [['garbage', 'malformed_token'], ['x.y.z', 'malformed_token']] as const) {
        const res = await revoke(token);
        assert.equal(res.status, 200);
        assert.equal((await eventOf(res, 'token.revoked')).reason, reason);
      }
      const bad = await t.agent.post('/revoke').auth(svc.clientId, 'nope').type('form').send({ token: await tokenOf() });
      assert.equal(bad.status, 401);
      assert.equal(bad.body.error, 'invalid_client');
      expectMatchesOpenApi(bad, 'POST', '/revoke');
      const missing = await t.agent.post('/revoke').auth(svc.clientId, svc.secret).type('form').send({});
      assert.equal(missing.status, 400);
      assert.equal(missing.body.error, 'invalid_request');
      expectMatchesOpenApi(missing, 'POST', '/revoke');
    });

    it('makes the admin API refuse a revoked admin token', async () => {
      const admin = { clientId: t.config.bootstrapAdmin.clientId, secret: (await import('../../helpers/start-app.ts')).BOOTSTRAP_SECRET, body: {} };
      const token = await tokenOf(admin);
      assert.equal((await t.agent.get('/admin/clients').set('authorization', `Bearer ${token}`)).status, 200);
      assert.equal((await revoke(token, admin)).status, 200);
      const res = await t.agent.get('/admin/clients').set('authorization', `Bearer ${token}`);
      assert.equal(res.status, 401);
      const [denied] = await t.auditEvents({ type: 'admin.denied' });
      assert.equal(denied?.reason, 'token_revoked');
    });

    it('makes token exchange refuse a revoked subject token', async () => {
      const subject = await tokenOf(gateway, { scope: 'orders:read' });
      assert.equal((await revoke(subject, gateway)).status, 200);
      const res = await t.agent.post('/token').auth(exchanger.clientId, exchanger.secret).type('form')
        .send({ grant_type: EXCHANGE, subject_token: subject, subject_token_type: ACCESS_TOKEN, audience: C });
      assert.equal(res.status, 400, res.text);
      const [denied] = await t.auditEvents({ type: 'token.denied', clientId: 'svc-a' });
      assert.equal(denied?.reason, 'subject_token_token_revoked');
    });

    it('revokes every token of a client issued before T through the admin API', async () => {
      const first = await tokenOf(other);
      const second = await tokenOf(other);
      const admin = `Bearer ${await t.adminToken()}`;
      // A T before both tokens revokes neither.
      const early = new Date((decodeJwt(first).iat! - 10) * 1000).toISOString();
      const none = await t.agent.post('/admin/clients/svc-other/revoke-tokens').set('authorization', admin).send({ issued_before: early });
      assert.equal(none.status, 200, none.text);
      expectMatchesOpenApi(none, 'POST', '/admin/clients/{client_id}/revoke-tokens');
      assert.equal((await introspect(first)).body.active, true);
      // Default T: now.
      const res = await t.agent.post('/admin/clients/svc-other/revoke-tokens').set('authorization', admin);
      assert.equal(res.status, 200, res.text);
      expectMatchesOpenApi(res, 'POST', '/admin/clients/{client_id}/revoke-tokens');
      assert.equal(res.body.client_id, 'svc-other');
      await expectInactive(first, 'token_revoked');
      await expectInactive(second, 'token_revoked');
      const event = (await t.auditEvents({ type: 'token.revoked', clientId: 'svc-other' })).find((e) => e.requestId === res.headers['x-request-id']);
      assert.equal(event?.outcome, 'success');
      assert.equal((event?.details as Record<string, unknown>).actor, t.config.bootstrapAdmin.clientId);
      // A token issued in a later second is not covered.
      t.clock.advance(2);
      try {
        assert.equal((await introspect(await tokenOf(other))).body.active, true);
      } finally {
        t.clock.advance(-2);
      }
      assert.equal((await introspect(await tokenOf(svc))).body.active, true, 'other clients\' tokens are untouched');
    });

    it('validates the admin call: future T, unknown fields, unknown client', async () => {
      const admin = `Bearer ${await t.adminToken()}`;
      const future = await t.agent.post('/admin/clients/svc-other/revoke-tokens').set('authorization', admin).send({ issued_before: '2999-01-01T00:00:00Z' });
      assert.equal(future.status, 400);
      expectMatchesOpenApi(future, 'POST', '/admin/clients/{client_id}/revoke-tokens');
      assert.equal(future.body.invalid_params[0].name, 'issued_before');
      for (const body of [{ issued_before: 'yesterday' }, { issued_before: 5 }, { jti: 'x' }]) {
        const res = await t.agent.post('/admin/clients/svc-other/revoke-tokens').set('authorization', admin).send(body);
        assert.equal(res.status, 400, JSON.stringify(body));
      }
      const unknown = await t.agent.post('/admin/clients/nobody/revoke-tokens').set('authorization', admin).send({});
      assert.equal(unknown.status, 404);
      expectMatchesOpenApi(unknown, 'POST', '/admin/clients/{client_id}/revoke-tokens');
      const noToken = await t.agent.post('/admin/clients/svc-other/revoke-tokens').send({});
      assert.equal(noToken.status, 401);
    });

    it('prunes revocation records once their tokens have expired', async () => {
      const token = await tokenOf();
      assert.equal((await revoke(token)).status, 200);
      const jti = decodeJwt(token).jti;
      const later = new Date((decodeJwt(token).exp! + 1) * 1000);
      const pruned = await t.container.uow.stores.revocations.pruneExpired(later);
      assert.ok(pruned >= 1);
      const left = await t.container.uow.stores.revocations.listInForce(t.clock.now());
      assert.equal(left.tokens.some((r) => r.jti === jti), false);
    });
  });

  describe('client metadata', () => {
    it('registers introspection: false by default, validates it, and lets it be changed', async () => {
      const admin = `Bearer ${await t.adminToken()}`;
      assert.equal(svc.body.introspection, false);
      assert.equal(rs.body.introspection, true);
      const bad = await t.agent.post('/admin/clients').set('authorization', admin).send({ client_name: 'x', introspection: 'yes' });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.invalid_params[0].name, 'introspection');
      const patched = await t.agent.patch('/admin/clients/svc-other').set('authorization', admin).send({ introspection: true });
      assert.equal(patched.status, 200);
      assert.equal(patched.body.introspection, true);
      expectMatchesOpenApi(patched, 'PATCH', '/admin/clients/{client_id}');
      assert.equal((await introspect(await tokenOf(svc), other)).body.active, true);
      await t.agent.patch('/admin/clients/svc-other').set('authorization', admin).send({ introspection: false });
      assert.equal((await introspect(await tokenOf(svc), other)).status, 400);
    });
  });

  describe('malformed requests', () => {
    it('never answers 5xx', async () => {
      const token = await tokenOf();
      const basic = `Basic ${Buffer.from(`${rs.clientId}:${rs.secret}`).toString('base64')}`;
      for (const path of ['/introspect', '/revoke']) {
        const cases: Array<[string, (r: ReturnType<typeof t.agent.post>) => ReturnType<typeof t.agent.post>]> = [
          ['duplicate token', (r) => r.type('form').send(`token=${token}&token=${token}`)],
          ['bracketed name', (r) => r.type('form').send(`token[]=${token}`)],
          ['JSON array', (r) => r.type('json').send({ token: [token] })],
          ['JSON number', (r) => r.type('json').send({ token: 5 })],
          ['JSON not an object', (r) => r.type('json').send('[1]')],
          ['bad JSON', (r) => r.type('json').send('{"token":')],
          ['huge token', (r) => r.type('form').send({ token: 'a'.repeat(20_000) })],
          ['body over the limit', (r) => r.type('form').send({ token: 'a'.repeat(70_000) })],
          ['NUL in token', (r) => r.type('form').send('token=a%00b')],
          ['bad escape', (r) => r.type('form').send('token=%zz')],
          ['invalid UTF-8', (r) => r.type('form').send(Buffer.from([0x74, 0x6f, 0x6b, 0x65, 0x6e, 0x3d, 0xff]))],
          ['other content type', (r) => r.type('text/plain').send('token=x')],
          ['no content type', (r) => r.send(Buffer.from('token=x')).unset('content-type')],
          ['gzip', (r) => r.type('form').set('content-encoding', 'gzip').send('token=x')],
          ['header-only token', (r) => r.type('form').send({ token: 'eyJhbGciOiJub25lIn0..' })],
          ['alg none', (r) => r.type('form').send({ token: `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}.` })],
          ['deep JSON header', (r) => r.type('form').send({ token: `${Buffer.from('['.repeat(5000)).toString('base64url')}.e30.x` })],
        ];
        for (const [name, build] of cases) {
          const res = await build(t.agent.post(path).set('authorization', basic));
          assert.ok(res.status < 500, `${path} ${name}: ${res.status} ${res.text}`);
          if (res.status !== 200) {
            assert.equal(typeof res.body.error, 'string', `${path} ${name}: an OAuth error body`);
            expectMatchesOpenApi(res, 'POST', path);
          }
        }
        const query = await t.agent.post(`${path}?token=${token}`).set('authorization', basic).type('form').send({ token });
        assert.equal(query.status, 400);
        const get = await t.agent.get(path);
        assert.equal(get.status, 405);
        assert.equal(get.headers.allow, 'POST');
      }
    });
  });

  describe('discovery and openid-client 6', () => {
    it('lists both endpoints and their auth methods', async () => {
      const res = await t.agent.get('/.well-known/oauth-authorization-server');
      assert.equal(res.body.introspection_endpoint, `${t.config.issuer}/introspect`);
      assert.equal(res.body.revocation_endpoint, `${t.config.issuer}/revoke`);
      assert.deepEqual(res.body.introspection_endpoint_auth_methods_supported, res.body.token_endpoint_auth_methods_supported);
      assert.deepEqual(res.body.revocation_endpoint_auth_methods_supported, res.body.token_endpoint_auth_methods_supported);
      expectMatchesOpenApi(res, 'GET', '/.well-known/oauth-authorization-server');
    });

    it('introspects and revokes with tokenIntrospection and tokenRevocation', async () => {
      const config = await oidc.discovery(new URL(t.config.issuer), rs.clientId, undefined, oidc.ClientSecretBasic(rs.secret), { execute: [oidc.allowInsecureRequests] });
      const svcConfig = await oidc.discovery(new URL(t.config.issuer), svc.clientId, undefined, oidc.ClientSecretBasic(svc.secret), { execute: [oidc.allowInsecureRequests] });
      const { access_token: token } = await oidc.clientCredentialsGrant(svcConfig, { scope: 'orders:read', audience: ORDERS });
      const active = await oidc.tokenIntrospection(config, token);
      assert.equal(active.active, true);
      assert.equal(active.client_id, 'svc-orders');
      assert.equal(active.token_type, 'Bearer');
      await oidc.tokenRevocation(svcConfig, token, { token_type_hint: 'access_token' });
      const inactive = await oidc.tokenIntrospection(config, token);
      assert.equal(inactive.active, false);
    });
  });
});

describe('POST /introspect and POST /revoke share the per-client budget of POST /token', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService({ RATE_LIMIT_TOKEN_PER_CLIENT: '3' });
  });
  after(() => t.stop());

  it('answers 429 rate_limited with Retry-After once the client is over it, audited', async () => {
    const rs = await t.registerClient({ client_id: 'rs-limited', introspection: true });
    const token = await t.tokenFor(rs.clientId, rs.secret);
    const call = (path: string) => t.agent.post(path).auth(rs.clientId, rs.secret).type('form').send({ token });
    assert.equal((await call('/introspect')).status, 200);
    assert.equal((await call('/revoke')).status, 200);
    const over = await call('/introspect');
    assert.equal(over.status, 429, over.text);
    assert.equal(over.body.error, 'rate_limited');
    assert.ok(Number(over.headers['retry-after']) >= 1);
    expectMatchesOpenApi(over, 'POST', '/introspect');
    const [denied] = (await t.auditEvents({ type: 'token.introspected', clientId: 'rs-limited' })).filter((e) => e.requestId === over.headers['x-request-id']);
    assert.equal(denied?.reason, 'rate_limited');
    const revokeOver = await call('/revoke');
    assert.equal(revokeOver.status, 429);
    expectMatchesOpenApi(revokeOver, 'POST', '/revoke');
  });
});
