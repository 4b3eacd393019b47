import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { Agent } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair } from 'jose';
import { createSigningKey } from '../helpers/assertion.ts';
import { mtlsClient, startTlsService, tlsRequest, type TlsService } from '../helpers/mtls.ts';
import { createPki, type Pki } from '../helpers/pki.ts';
import { startTestService, type TestService } from '../helpers/start-app.ts';
import { createTokenSource } from '../../packages/token-client/src/index.ts';
import { createVerifier } from '../../packages/verifier/src/index.ts';
import { bodyOf, fetchTrusting, startTarget, startTlsTarget, type Target } from './target-service.ts';

const ORDERS = 'https://orders.internal';
const BILLING = 'https://billing.internal';

describe('the token source against the real service, its tokens used at a verifying target', () => {
  let t: TestService;
  let target: Target;

  before(async () => {
    t = await startTestService({ RATE_LIMIT_TOKEN_PER_CLIENT: '0' });
    target = await startTarget(createVerifier({ issuer: t.config.issuer, audience: ORDERS }));
  });
  after(async () => {
    await target.close();
    await t.stop();
  });

  const issuedFor = async (clientId: string) => (await t.auditEvents({ type: 'token.issued', clientId })).length;
  const getOrders = (headers: Record<string, string>) => fetch(`${target.url}/orders`, { headers });

  it('client_secret_basic: one token request (one audit row) serves many calls, and the target accepts it', async () => {
    const client = await t.registerClient({ client_id: 'basic-caller', audience: [ORDERS, BILLING] });
    const tokens = createTokenSource({ tokenUrl: `${t.url}/token`, clientId: client.clientId, auth: { method: 'client_secret_basic', clientSecret: client.secret }, audience: ORDERS, scope: 'orders:read' });
    const got = await Promise.all(Array.from({ length: 10 }, () => tokens.getToken()));
    assert.equal(new Set(got.map((g) => g.accessToken)).size, 1);
    for (let i = 0; i < 5; i++) assert.equal((await getOrders(await tokens.headersFor({ method: 'GET', url: `${target.url}/orders` }))).status, 200);
    assert.equal(await issuedFor('basic-caller'), 1);
    const claims = decodeJwt(got[0]!.accessToken);
    assert.equal(claims.aud, ORDERS);
    assert.equal(claims.scope, 'orders:read');
    assert.equal(got[0]!.scope, 'orders:read');
    // Another audience is another token.
    assert.equal(decodeJwt((await tokens.getToken({ audience: BILLING })).accessToken).aud, BILLING);
    assert.equal(await issuedFor('basic-caller'), 2);
  });

  it('client_secret_post, and the server\'s refusal of a wrong secret as TokenRequestFailed', async () => {
    const client = await t.registerClient({ client_id: 'post-caller', token_endpoint_auth_method: 'client_secret_post' });
    const tokens = createTokenSource({ issuer: t.config.issuer, clientId: client.clientId, auth: { method: 'client_secret_post', clientSecret: client.secret } });
    assert.equal((await getOrders(await tokens.headersFor({ method: 'GET', url: `${target.url}/orders` }))).status, 200);
    const wrong = createTokenSource({ issuer: t.config.issuer, clientId: client.clientId, auth: { method: 'client_secret_post', clientSecret: `${client.secret}x` } });
    await assert.rejects(wrong.getToken(), { name: 'TokenRequestFailed', status: 401, error: 'invalid_client' });
  });

  it('private_key_jwt with a key it holds, aud from discovery, a fresh assertion for every request', async () => {
    const key = await createSigningKey('ES256', 'pk-1');
    await t.registerClient({ client_id: 'pkj-caller', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.publicJwk] }, audience: [ORDERS, BILLING] });
    const tokens = createTokenSource({ issuer: t.config.issuer, clientId: 'pkj-caller', auth: { method: 'private_key_jwt', privateKey: key.privateJwk, alg: 'ES256' }, audience: ORDERS });
    const orders = await tokens.getToken();
    // A replayed jti would be refused by the service (RFC 7523 §3): the second request succeeding proves a fresh one.
    const billing = await tokens.getToken({ audience: BILLING });
    assert.equal(decodeJwt(orders.accessToken).client_id, 'pkj-caller');
    assert.equal(decodeJwt(billing.accessToken).aud, BILLING);
    assert.equal(await issuedFor('pkj-caller'), 2);
    assert.equal((await getOrders({ authorization: `Bearer ${orders.accessToken}` })).status, 200);
  });

  it('DPoP with a key it holds: a bound token, and proofs the target accepts', async () => {
    const client = await t.registerClient({ client_id: 'dpop-source' });
    const keys = await generateKeyPair('ES256');
    const tokens = createTokenSource({ issuer: t.config.issuer, clientId: client.clientId, auth: { method: 'client_secret_basic', clientSecret: client.secret }, dpop: { ...keys, alg: 'ES256' } });
    const token = await tokens.getToken();
    assert.equal(token.tokenType, 'DPoP');
    assert.deepEqual(decodeJwt(token.accessToken).cnf, { jkt: await calculateJwkThumbprint(await exportJWK(keys.publicKey)) });
    for (let i = 0; i < 3; i++) {
      const res = await getOrders(await tokens.headersFor({ method: 'GET', url: `${target.url}/orders` }));
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal((await bodyOf(res)).binding?.method, 'dpop');
    }
  });
});

describe('the token source with mutual TLS against the real service', () => {
  const SPIFFE = 'spiffe://cluster.local/ns/shop/sa/mtls-source';
  let pki: Pki;
  let tls: TlsService;

  before(async () => {
    pki = createPki();
    tls = await startTlsService(pki);
  });
  after(async () => {
    await tls.t.stop();
    pki.cleanup();
  });

  it('tls_client_auth with an https.Agent holding the certificate: a certificate-bound token the target accepts over the same certificate', async () => {
    const cert = pki.issue({ subject: '/O=shop/CN=mtls-source', uris: [SPIFFE] });
    const registered = await tls.admin('POST', '/admin/clients', { client_name: 'mtls source', scope: 'orders:read', audience: [ORDERS], ...mtlsClient('mtls-source', { tls_client_auth_san_uri: SPIFFE }) });
    assert.equal(registered.status, 201, registered.text);
    const agent = new Agent({ cert: cert.certPem, key: cert.keyPem, ca: pki.ca1.certPem });
    try {
      const tokens = createTokenSource({ issuer: tls.t.config.issuer, clientId: 'mtls-source', auth: { method: 'tls_client_auth' }, agent });
      const token = await tokens.getToken();
      assert.deepEqual(decodeJwt(token.accessToken).cnf, { 'x5t#S256': cert.x5tS256 });
      const target = await startTlsTarget(createVerifier({ issuer: tls.t.config.issuer, audience: ORDERS, jwksOptions: { fetch: fetchTrusting(pki.ca1.certPem) } }), pki.server);
      try {
        const res = await tlsRequest(`${target.url}/orders`, { ca: pki.ca1.certPem, client: cert, headers: await tokens.headersFor({ method: 'GET', url: `${target.url}/orders` }) });
        assert.equal(res.status, 200, res.text);
        assert.equal((res.body.binding as { method: string }).method, 'mtls');
      } finally {
        await target.close();
      }
    } finally {
      agent.destroy();
    }
  });

  it('self_signed_tls_client_auth with the self-signed certificate on the agent', async () => {
    const selfSigned = pki.selfSigned({ subject: '/CN=self-signed source' });
    const jwk = createPublicKey(selfSigned.certPem).export({ format: 'jwk' });
    const registered = await tls.admin('POST', '/admin/clients', {
      client_name: 'self-signed source', client_id: 'ss-source', scope: 'orders:read', audience: [ORDERS],
      token_endpoint_auth_method: 'self_signed_tls_client_auth', jwks: { keys: [jwk] },
    });
    assert.equal(registered.status, 201, registered.text);
    const agent = new Agent({ cert: selfSigned.certPem, key: selfSigned.keyPem, ca: pki.ca1.certPem });
    try {
      const tokens = createTokenSource({ tokenUrl: `${tls.t.config.issuer}/token`, clientId: 'ss-source', auth: { method: 'self_signed_tls_client_auth' }, agent });
      assert.deepEqual(decodeJwt((await tokens.getToken()).accessToken).cnf, { 'x5t#S256': selfSigned.x5tS256 });
    } finally {
      agent.destroy();
    }
  });

  it('refuses to build an mTLS source without an agent or dispatcher', () => {
    assert.throws(() => createTokenSource({ tokenUrl: `${tls.t.url}/token`, clientId: 'x', auth: { method: 'tls_client_auth' } }), /needs an agent or dispatcher/);
  });
});
