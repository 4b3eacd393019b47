import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader, exportSPKI, generateKeyPair, importJWK, SignJWT, type JWTPayload } from 'jose';
import type { Response } from 'supertest';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { BOOTSTRAP_SECRET, startTestService, type RegisteredClient, type TestService } from '../../helpers/start-app.ts';

type Route = { method: 'get' | 'post' | 'patch' | 'delete'; path: string; template: string; scope: string; body?: object };

/** Every /admin route (contract §5) with a body that would change something if it got through. */
const ROUTES: Route[] = [
  { method: 'get', path: '/admin/clients', template: '/admin/clients', scope: 'admin:clients' },
  { method: 'post', path: '/admin/clients', template: '/admin/clients', scope: 'admin:clients', body: { client_id: 'c-intruder', client_name: 'intruder' } },
  { method: 'get', path: '/admin/clients/c-victim', template: '/admin/clients/{client_id}', scope: 'admin:clients' },
  { method: 'patch', path: '/admin/clients/c-victim', template: '/admin/clients/{client_id}', scope: 'admin:clients', body: { disabled: true, scope: 'admin:clients' } },
  { method: 'delete', path: '/admin/clients/c-victim', template: '/admin/clients/{client_id}', scope: 'admin:clients' },
  { method: 'post', path: '/admin/clients/c-victim/secret', template: '/admin/clients/{client_id}/secret', scope: 'admin:clients', body: {} },
  { method: 'post', path: '/admin/clients/c-victim/revoke-tokens', template: '/admin/clients/{client_id}/revoke-tokens', scope: 'admin:clients', body: {} },
  { method: 'get', path: '/admin/keys', template: '/admin/keys', scope: 'admin:keys' },
  { method: 'post', path: '/admin/keys/rotate', template: '/admin/keys/rotate', scope: 'admin:keys', body: {} },
  { method: 'post', path: '/admin/keys/ACTIVE_KID/revoke', template: '/admin/keys/{kid}/revoke', scope: 'admin:keys', body: {} },
  { method: 'get', path: '/admin/audit', template: '/admin/audit', scope: 'admin:audit' },
  { method: 'get', path: '/admin/trusted-issuers', template: '/admin/trusted-issuers', scope: 'admin:clients' },
  { method: 'post', path: '/admin/trusted-issuers', template: '/admin/trusted-issuers', scope: 'admin:clients', body: { issuer: 'https://intruder.example', jwks_uri: 'https://intruder.example/jwks', audiences: ['x'] } },
  { method: 'get', path: '/admin/trusted-issuers/ISSUER_ID', template: '/admin/trusted-issuers/{id}', scope: 'admin:clients' },
  { method: 'patch', path: '/admin/trusted-issuers/ISSUER_ID', template: '/admin/trusted-issuers/{id}', scope: 'admin:clients', body: { disabled: true } },
  { method: 'delete', path: '/admin/trusted-issuers/ISSUER_ID', template: '/admin/trusted-issuers/{id}', scope: 'admin:clients' },
];

const ALL_ADMIN_SCOPES = 'admin:clients admin:keys admin:audit';

const CHANGE_EVENTS = ['client.created', 'client.updated', 'client.deleted', 'client.secret_rotated', 'key.created', 'key.activated', 'key.retired', 'key.revoked', 'issuer.created', 'issuer.updated', 'issuer.deleted', 'token.revoked'] as const;

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

describe('admin API authentication and authorization (AD-01)', () => {
  let t: TestService;
  let admin: string;
  let victim: RegisteredClient;
  let victimBefore: unknown;
  let clientCountBefore: number;
  let changeEventsBefore: number;
  const tokens: Record<string, string> = {};

  before(async () => {
    t = await startTestService();
    // An admin token that the clock then overtakes: TTL 900 s, the clock moves 3600 s. Every other
    // token is issued after the move, so only this one is expired.
    tokens.expired = await t.tokenFor(t.config.bootstrapAdmin.clientId, BOOTSTRAP_SECRET);
    t.clock.advance(3600);
    admin = await t.adminToken();

    victim = await t.registerClient({ client_id: 'c-victim' });
    const adminAudience = `${t.config.issuer}/admin`;
    const wrongAudience = await t.registerClient({ client_id: 'c-admin-scopes-orders-aud', scope: ALL_ADMIN_SCOPES, audience: ['https://orders.internal'] });
    tokens.wrongAudience = await t.tokenFor(wrongAudience.clientId, wrongAudience.secret);
    const ordersScope = await t.registerClient({ client_id: 'c-orders-admin-aud', scope: 'orders:read', audience: [adminAudience] });
    tokens.ordersScope = await t.tokenFor(ordersScope.clientId, ordersScope.secret);
    const keysOnly = await t.registerClient({ client_id: 'c-keys-only', scope: 'admin:keys', audience: [adminAudience] });
    tokens.keysOnly = await t.tokenFor(keysOnly.clientId, keysOnly.secret);
    const disabled = await t.registerClient({ client_id: 'c-admin-disabled', scope: ALL_ADMIN_SCOPES, audience: [adminAudience] });
    tokens.disabledClient = await t.tokenFor(disabled.clientId, disabled.secret);
    const off = await t.agent.patch('/admin/clients/c-admin-disabled').set('authorization', `Bearer ${admin}`).send({ disabled: true });
    assert.equal(off.status, 200, off.text);

    // Forgeries built from a genuine admin token's header and claims.
    const header = decodeProtectedHeader(admin);
    const claims = decodeJwt(admin) as JWTPayload;
    tokens.algNone = `${base64url({ ...header, alg: 'none' })}.${base64url(claims)}.`;
    const foreign = await generateKeyPair('RS256');
    tokens.foreignKeyOurKid = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: header.kid! }).sign(foreign.privateKey);
    tokens.foreignKeyOwnKid = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'attacker-key' }).sign(foreign.privateKey);
    // RFC 8725 §2.1: the public key used as an HMAC secret (algorithm confusion).
    const jwks = await t.agent.get('/.well-known/jwks.json');
    const ourJwk = (jwks.body.keys as { kid: string }[]).find((k) => k.kid === header.kid)!;
    const publicPem = await exportSPKI(await importJWK(ourJwk, 'RS256') as Parameters<typeof exportSPKI>[0]);
    tokens.hmacWithPublicKey = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: header.kid! })
      .sign(new TextEncoder().encode(publicPem));

    const issuer = await t.agent.post('/admin/trusted-issuers').set('authorization', `Bearer ${admin}`)
      .send({ issuer: 'https://victim-idp.example', jwks_uri: 'https://victim-idp.example/jwks', audiences: ['x'] });
    assert.equal(issuer.status, 201, issuer.text);
    issuerId = issuer.body.id;
    issuerBefore = issuer.body;

    activeKid = t.container.keys.activeSigningKey()!.kid;
    keysBefore = t.container.keys.list();
    victimBefore = (await t.agent.get('/admin/clients/c-victim').set('authorization', `Bearer ${admin}`)).body;
    clientCountBefore = await t.container.uow.stores.clients.count();
    changeEventsBefore = await changeEventCount();
  });
  after(() => t.stop());

  let activeKid: string;
  let keysBefore: unknown;
  let issuerId: string;
  let issuerBefore: unknown;
  const pathOf = (route: Route) => route.path.replace('ACTIVE_KID', activeKid).replace('ISSUER_ID', issuerId);

  async function changeEventCount(): Promise<number> {
    let n = 0;
    for (const type of CHANGE_EVENTS) n += (await t.auditEvents({ type })).length;
    return n;
  }

  function call(route: Route, authorization: string | undefined): Promise<Response> {
    const req = t.agent[route.method](pathOf(route));
    if (authorization !== undefined) req.set('authorization', authorization);
    return route.body === undefined ? req : req.send(route.body);
  }

  /** The refusal, its one admin.denied event, and no change anywhere. */
  async function expectDenied(res: Response, route: Route, status: 401 | 403, reason: string) {
    const label = `${route.method.toUpperCase()} ${pathOf(route)}`;
    assert.equal(res.status, status, `${label}: ${res.text}`);
    expectMatchesOpenApi(res, route.method.toUpperCase(), route.template);
    assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json(;|$)/);
    const problem = JSON.parse(res.text) as Record<string, unknown>;
    assert.equal(problem.status, status);
    for (const key of ['type', 'title', 'detail']) assert.equal(typeof problem[key], 'string', `${label}: ${key}`);
    assert.equal(res.headers['cache-control'], 'no-store');
    if (status === 401) {
      assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"', label);
    } else {
      assert.equal(res.headers['www-authenticate'], `Bearer error="insufficient_scope", scope="${route.scope}"`, label);
    }
    assert.doesNotMatch(res.text, /eyJ|c-victim|"items"/, `${label}: nothing of the resource leaks`);

    const events = (await t.auditEvents({ type: 'admin.denied' })).filter((e) => e.requestId === res.headers['x-request-id']);
    assert.equal(events.length, 1, `${label}: exactly one admin.denied`);
    assert.equal(events[0]!.outcome, 'failure');
    assert.equal(events[0]!.reason, reason, label);
    assert.equal(events[0]!.sourceAddress, '127.0.0.1');
    assert.deepEqual(events[0]!.details, { method: route.method.toUpperCase(), path: pathOf(route) });
  }

  async function expectNothingChanged() {
    assert.equal(await t.container.uow.stores.clients.count(), clientCountBefore, 'no client was added or removed');
    const now = await t.agent.get('/admin/clients/c-victim').set('authorization', `Bearer ${admin}`);
    assert.deepEqual(now.body, victimBefore, 'c-victim is unchanged');
    const issuers = await t.container.uow.stores.trustedIssuers.listAll();
    assert.deepEqual(issuers.map((i) => i.issuer), ['https://victim-idp.example'], 'no trusted issuer was added or removed');
    assert.deepEqual((await t.agent.get(`/admin/trusted-issuers/${issuerId}`).set('authorization', `Bearer ${admin}`)).body, issuerBefore, 'the trusted issuer is unchanged');
    assert.equal(await changeEventCount(), changeEventsBefore, 'no client.*, key.* or issuer.* event was written');
    assert.deepEqual(t.container.keys.list(), keysBefore, 'the signing keys are unchanged');
    assert.equal(t.container.keys.activeSigningKey()?.kid, activeKid);
    const issued = await t.agent.post('/token').auth(victim.clientId, victim.secret).type('form').send({ grant_type: 'client_credentials' });
    assert.equal(issued.status, 200, `c-victim's secret still works: ${issued.text}`);
  }

  const unauthenticated: Array<{ name: string; authorization: () => string | undefined; reason: string }> = [
    { name: 'no Authorization header', authorization: () => undefined, reason: 'no_token' },
    { name: 'a bearer value that is not a JWT', authorization: () => 'Bearer not-a-jwt', reason: 'malformed_token' },
    { name: "the admin client's Basic credentials instead of a token", authorization: () => `Basic ${Buffer.from(`admin:${BOOTSTRAP_SECRET}`).toString('base64')}`, reason: 'no_token' },
    { name: 'an expired ADM', authorization: () => `Bearer ${tokens.expired}`, reason: 'token_expired' },
    { name: 'ADM with alg none', authorization: () => `Bearer ${tokens.algNone}`, reason: 'token_invalid' },
    { name: 'ADM signed by a foreign key under our kid', authorization: () => `Bearer ${tokens.foreignKeyOurKid}`, reason: 'token_invalid' },
    { name: 'ADM signed by a foreign key under its own kid', authorization: () => `Bearer ${tokens.foreignKeyOwnKid}`, reason: 'unknown_kid' },
    { name: 'ADM HMAC-signed with our public key', authorization: () => `Bearer ${tokens.hmacWithPublicKey}`, reason: 'token_invalid' },
    { name: 'a token of ours with admin scopes but aud https://orders.internal', authorization: () => `Bearer ${tokens.wrongAudience}`, reason: 'claim_aud_invalid' },
    { name: 'an admin token of a client disabled since', authorization: () => `Bearer ${tokens.disabledClient}`, reason: 'client_inactive' },
  ];

  for (const { name, authorization, reason } of unauthenticated) {
    it(`AD-01 answers 401 invalid_token on every admin route for ${name}`, async () => {
      for (const route of ROUTES) await expectDenied(await call(route, authorization()), route, 401, reason);
      await expectNothingChanged();
    });
  }

  it('AD-01 answers 403 insufficient_scope on every admin route for a token with aud ISSUER/admin but scope orders:read', async () => {
    for (const route of ROUTES) await expectDenied(await call(route, `Bearer ${tokens.ordersScope}`), route, 403, 'insufficient_scope');
    await expectNothingChanged();
  });

  it('AD-01 answers 403 for an admin:keys-only token on /admin/clients and /admin/audit, and lets it read /admin/keys', async () => {
    for (const route of ROUTES.filter((r) => r.scope !== 'admin:keys')) {
      await expectDenied(await call(route, `Bearer ${tokens.keysOnly}`), route, 403, 'insufficient_scope');
    }
    const keys = await t.agent.get('/admin/keys').set('authorization', `Bearer ${tokens.keysOnly}`);
    assert.equal(keys.status, 200, keys.text);
    expectMatchesOpenApi(keys, 'GET', '/admin/keys');
    assert.ok(keys.body.items.length >= 1);
    await expectNothingChanged();
  });

  it('AD-01 accepts the genuine admin token on every read route (the denials above are not a broken service)', async () => {
    for (const route of ROUTES.filter((r) => r.method === 'get')) {
      const res = await call(route, `Bearer ${admin}`);
      assert.equal(res.status, 200, `${pathOf(route)}: ${res.text}`);
      expectMatchesOpenApi(res, 'GET', route.template);
    }
    const scheme = await t.agent.get('/admin/clients').set('authorization', `bearer ${admin}`);
    assert.equal(scheme.status, 200, 'RFC 6750 §2.1 / RFC 9110 §11.1: the scheme name is case-insensitive');
  });

  it('AD-01 answers 401 on every admin route for an ADM signed by a key revoked through the admin API', async () => {
    // Last but one: the emergency revocation replaces the signing key every earlier token used.
    const revokedKid = activeKid;
    assert.equal(decodeProtectedHeader(admin).kid, revokedKid);
    const revoked = await t.agent.post(`/admin/keys/${revokedKid}/revoke`).set('authorization', `Bearer ${admin}`);
    assert.equal(revoked.status, 200, revoked.text);
    assert.equal(revoked.body.state, 'revoked');
    const signedByRevoked = admin;
    admin = await t.tokenFor(t.config.bootstrapAdmin.clientId, BOOTSTRAP_SECRET);
    activeKid = t.container.keys.activeSigningKey()!.kid;
    assert.notEqual(activeKid, revokedKid);
    assert.equal(decodeProtectedHeader(admin).kid, activeKid);
    keysBefore = t.container.keys.list();
    changeEventsBefore = await changeEventCount();

    for (const route of ROUTES) await expectDenied(await call(route, `Bearer ${signedByRevoked}`), route, 401, 'unknown_kid');
    await expectNothingChanged();
    const fresh = await t.agent.get('/admin/keys').set('authorization', `Bearer ${admin}`);
    assert.equal(fresh.status, 200, 'a token of the new active key opens the API');
  });

  it('AD-01 audits every denial of this suite as admin.denied and nothing else as a change', async () => {
    let total = 0;
    let cursor: string | null | undefined;
    do {
      const page = await t.container.uow.stores.audit.list({ type: 'admin.denied' }, { limit: 100, ...(cursor && { cursor }) });
      total += page.items.length;
      cursor = page.nextCursor;
    } while (cursor);
    // Every unauthenticated kind on every route, orders:read on every route, admin:keys on the
    // client and audit routes, and the revoked key's token on every route.
    const notKeyRoutes = ROUTES.filter((r) => r.scope !== 'admin:keys').length;
    assert.equal(total, unauthenticated.length * ROUTES.length + ROUTES.length + notKeyRoutes + ROUTES.length);
    assert.equal((await t.auditEvents({ type: 'client.created', clientId: 'c-intruder' })).length, 0);
  });
});
