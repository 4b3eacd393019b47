import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { startFakeIdentityProvider, type FakeIdentityProvider } from '../../helpers/fake-idp.ts';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { startTestService, type TestService } from '../../helpers/start-app.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const JWT_SPIFFE = 'urn:ietf:params:oauth:client-assertion-type:jwt-spiffe';
const ORDERS_SA = 'system:serviceaccount:shop:orders';
const TRUST_DOMAIN = 'spiffe://cluster.local';
const ORDERS_SPIFFE = `${TRUST_DOMAIN}/ns/shop/sa/orders`;

type Reply = { status: number; body: Record<string, unknown>; text: string };

/** A SPIRE server's bundle endpoint: JWT-SVID keys marked use "jwt-svid", no alg, as SPIFFE bundles are. */
async function startFakeSpire() {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = 'spire-jwt-1';
  const bundle = { spiffe_sequence: 1, spiffe_refresh_hint: 300, keys: [{ ...(await exportJWK(publicKey)), kid, use: 'jwt-svid' }] };
  const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(bundle)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    bundleUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/bundle`,
    /** A JWT-SVID: sub the SPIFFE ID, aud, exp, iat; no iss (SPIRE sets one only when configured to). */
    svid: (claims: Record<string, unknown>, key: CryptoKey = privateKey) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iat: now, exp: now + 300, ...claims }).setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' }).sign(key);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * federated_jwt: workloads authenticate with what their platform already gave them — a projected
 * Kubernetes service-account token (a fake API server's discovery document and JWKS on loopback),
 * or a SPIFFE JWT-SVID (a fake SPIRE bundle endpoint) — and get tokens with no static secret.
 */
describe('POST /token with federated client assertions (Kubernetes service-account tokens, SPIFFE JWT-SVIDs)', () => {
  let t: TestService;
  let cluster: FakeIdentityProvider;
  let otherCluster: FakeIdentityProvider;
  let spire: Awaited<ReturnType<typeof startFakeSpire>>;
  let admin: string;

  const request = (params: Record<string, string>): Promise<Reply> =>
    t.agent.post('/token').type('form').send({ grant_type: 'client_credentials', ...params }) as unknown as Promise<Reply>;
  const k8sToken = (claims: Record<string, unknown> = {}, idp = cluster) => idp.sign({
    sub: ORDERS_SA, aud: t.config.issuer,
    'kubernetes.io': { namespace: 'shop', pod: { name: 'orders-7d9f', uid: 'b1c2' }, serviceaccount: { name: 'orders', uid: 'a1b2' } },
    exp: Math.floor(Date.now() / 1000) + 3000, ...claims,
  });

  async function refused(res: Reply, reason: string, clientId: string) {
    assert.equal(res.status, 401, res.text);
    assert.equal(res.body.error, 'invalid_client');
    expectMatchesOpenApi(res as never, 'POST', '/token');
    const [denied] = await t.auditEvents({ type: 'token.denied', clientId });
    assert.equal(denied?.reason, reason);
    assert.equal(denied?.authMethod, 'federated_jwt');
  }

  before(async () => {
    [t, cluster, otherCluster, spire] = await Promise.all([
      startTestService({ ALLOW_INSECURE_JWKS_URI: 'true' }), startFakeIdentityProvider(['RS256']), startFakeIdentityProvider(['RS256']), startFakeSpire(),
    ]);
    admin = `Bearer ${await t.adminToken()}`;
    for (const body of [
      { issuer: cluster.issuer, jwks_uri: cluster.jwksUri, audiences: ['vault'], description: 'the cluster\'s service-account issuer' },
      { issuer: TRUST_DOMAIN, jwks_uri: spire.bundleUrl, audiences: [t.config.issuer], algorithms: ['ES256'], description: 'SPIRE' },
    ]) {
      const res = await t.agent.post('/admin/trusted-issuers').set('authorization', admin).send(body);
      assert.equal(res.status, 201, res.text);
    }
    await t.registerClient({
      client_id: 'orders-k8s', token_endpoint_auth_method: 'federated_jwt', scope: 'orders:read',
      federated_credential: { issuer: cluster.issuer, subject: ORDERS_SA, require_bound_token: true },
    });
    await t.registerClient({
      client_id: 'orders-spiffe', token_endpoint_auth_method: 'federated_jwt', scope: 'orders:read',
      federated_credential: { issuer: TRUST_DOMAIN, subject: ORDERS_SPIFFE },
    });
  });
  after(async () => {
    await t?.stop();
    await Promise.all([cluster?.close(), otherCluster?.close(), spire?.close()]);
  });

  it('a pod\'s projected service-account token gets a token, with no static secret; reusing it works (no jti, reused for its hour)', async () => {
    const assertion = await k8sToken();
    for (let i = 0; i < 2; i++) {
      const res = await request({ client_id: 'orders-k8s', client_assertion_type: JWT_BEARER, client_assertion: assertion });
      assert.equal(res.status, 200, res.text);
      expectMatchesOpenApi(res as never, 'POST', '/token');
      const claims = decodeJwt(res.body.access_token as string);
      assert.equal(claims.sub, 'orders-k8s');
      assert.equal(claims.client_id, 'orders-k8s');
    }
    const [issued] = await t.auditEvents({ type: 'token.issued', clientId: 'orders-k8s' });
    assert.equal(issued?.authMethod, 'federated_jwt');
    assert.deepEqual(issued?.details, {
      grant_type: 'client_credentials', expires_in: 900, federated_issuer: cluster.issuer, federated_subject: ORDERS_SA, pod: 'orders-7d9f',
    });
    assert.ok(!JSON.stringify(issued).includes(assertion), 'the assertion never reaches the audit log');
  });

  it('refuses a token for the wrong audience, an expired one, one from an untrusted cluster, one naming another service account, an unbound or too long-lived one', async () => {
    const send = async (assertion: string) => request({ client_id: 'orders-k8s', client_assertion_type: JWT_BEARER, client_assertion: assertion });
    await refused(await send(await k8sToken({ aud: 'vault' })), 'federated_audience_not_ours', 'orders-k8s');
    await refused(await send(await k8sToken({ aud: [t.config.issuer, 'vault'] })), 'federated_audience_not_ours', 'orders-k8s');
    await refused(await send(await k8sToken({ aud: 'https://someone-else.example' })), 'federated_audience_mismatch', 'orders-k8s');
    const past = Math.floor(Date.now() / 1000) - 4000;
    await refused(await send(await k8sToken({ iat: past, exp: past + 600 })), 'federated_token_expired', 'orders-k8s');
    await refused(await send(await k8sToken({}, otherCluster)), 'federated_unknown_issuer', 'orders-k8s');
    await refused(await send(await k8sToken({ sub: 'system:serviceaccount:shop:payments' })), 'federated_subject_mismatch', 'orders-k8s');
    await refused(await send(await k8sToken({ 'kubernetes.io': { namespace: 'shop' } })), 'federated_token_not_pod_bound', 'orders-k8s');
    await refused(await send(await k8sToken({ exp: Math.floor(Date.now() / 1000) + 2 * 86400 })), 'federated_assertion_too_long_lived', 'orders-k8s');
    // The same token presented for a client registered for another credential.
    await refused(await request({ client_id: 'orders-spiffe', client_assertion_type: JWT_BEARER, client_assertion: await k8sToken() }), 'federated_issuer_mismatch', 'orders-spiffe');
  });

  it('a SPIFFE JWT-SVID (client_assertion_type jwt-spiffe) gets a token; one of an untrusted trust domain does not', async () => {
    const ok = await request({ client_id: 'orders-spiffe', client_assertion_type: JWT_SPIFFE, client_assertion: await spire.svid({ sub: ORDERS_SPIFFE, aud: [t.config.tokenEndpoint] }) });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(decodeJwt(ok.body.access_token as string).sub, 'orders-spiffe');
    const foreign = await spire.svid({ sub: 'spiffe://evil.example/ns/shop/sa/orders', aud: [t.config.issuer] });
    await refused(await request({ client_id: 'orders-spiffe', client_assertion_type: JWT_SPIFFE, client_assertion: foreign }), 'federated_unknown_issuer', 'orders-spiffe');
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await spire.svid({ sub: ORDERS_SPIFFE, aud: [t.config.issuer] }, privateKey);
    await refused(await request({ client_id: 'orders-spiffe', client_assertion_type: JWT_SPIFFE, client_assertion: forged }), 'federated_invalid_signature', 'orders-spiffe');
    const other = await spire.svid({ sub: `${TRUST_DOMAIN}/ns/shop/sa/payments`, aud: [t.config.issuer] });
    await refused(await request({ client_id: 'orders-spiffe', client_assertion_type: JWT_SPIFFE, client_assertion: other }), 'federated_subject_mismatch', 'orders-spiffe');
    // A trust domain is found only from a JWT-SVID's sub: a jwt-bearer assertion naming it as iss is not its token.
    const asBearer = await spire.svid({ iss: TRUST_DOMAIN, sub: ORDERS_SPIFFE, aud: [t.config.issuer] });
    await refused(await request({ client_id: 'orders-spiffe', client_assertion_type: JWT_BEARER, client_assertion: asBearer }), 'federated_unknown_issuer', 'orders-spiffe');
    const noClientId = await request({ client_assertion_type: JWT_SPIFFE, client_assertion: await spire.svid({ sub: ORDERS_SPIFFE, aud: [t.config.issuer] }) });
    assert.equal(noClientId.status, 400, noClientId.text);
    assert.equal(noClientId.body.error, 'invalid_request');
  });

  it('refuses a SPIFFE issuer that is not spiffe://<trust domain>, naming the field', async () => {
    for (const issuer of ['spiffe://cluster.local/ns/shop', 'spiffe://Cluster.Local', 'spiffe://', 'spiffe:cluster.local']) {
      const res = await t.agent.post('/admin/trusted-issuers').set('authorization', admin).send({ issuer, jwks_uri: spire.bundleUrl, audiences: ['x'], algorithms: ['ES256'] });
      assert.equal(res.status, 400, `${issuer}: ${res.text}`);
      assert.deepEqual((res.body.invalid_params as Array<{ name: string }>).map((p) => p.name), ['issuer'], issuer);
    }
  });

  it('registration refuses a namespace\'s default service account unless asked for, a SPIFFE ID of another trust domain, and a credential without its method', async () => {
    const register = (body: Record<string, unknown>) => t.agent.post('/admin/clients').set('authorization', admin)
      .send({ client_name: 'x', token_endpoint_auth_method: 'federated_jwt', ...body });
    const fields = (res: { body: { invalid_params?: Array<{ name: string }> } }) => (res.body.invalid_params ?? []).map((p) => p.name);
    const defaultSa = await register({ federated_credential: { issuer: cluster.issuer, subject: 'system:serviceaccount:shop:default' } });
    assert.equal(defaultSa.status, 400);
    assert.deepEqual(fields(defaultSa), ['federated_credential.subject']);
    const defaultSvid = await register({ federated_credential: { issuer: TRUST_DOMAIN, subject: `${TRUST_DOMAIN}/ns/shop/sa/default` } });
    assert.deepEqual(fields(defaultSvid), ['federated_credential.subject']);
    const allowed = await register({ federated_credential: { issuer: cluster.issuer, subject: 'system:serviceaccount:batch:default', allow_default_service_account: true } });
    assert.equal(allowed.status, 201, allowed.text);
    assert.deepEqual(allowed.body.federated_credential, { issuer: cluster.issuer, subject: 'system:serviceaccount:batch:default', require_bound_token: false });
    const elsewhere = await register({ federated_credential: { issuer: TRUST_DOMAIN, subject: 'spiffe://evil.example/ns/shop/sa/orders' } });
    assert.deepEqual(fields(elsewhere), ['federated_credential.subject']);
    assert.deepEqual(fields(await register({})), ['federated_credential']);
    const secretClient = await t.agent.post('/admin/clients').set('authorization', admin)
      .send({ client_name: 'x', federated_credential: { issuer: cluster.issuer, subject: 'system:serviceaccount:shop:x' } });
    assert.deepEqual(fields(secretClient), ['federated_credential']);
  });
});
