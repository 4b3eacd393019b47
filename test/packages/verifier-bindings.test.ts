import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { createSigningKey, epochSeconds, jwkThumbprint, signDpopProof, type SigningKey } from '../helpers/assertion.ts';
import { clientCertHeader, mtlsClient, startTlsService, tlsRequest, tlsToken, xfcc, type TlsService } from '../helpers/mtls.ts';
import { createPki, type IssuedCertificate, type Pki } from '../helpers/pki.ts';
import { startTestService, type RegisteredClient, type TestService } from '../helpers/start-app.ts';
import { createVerifier, DEFAULT_DPOP_ALGORITHMS } from '../../packages/verifier/src/index.ts';
import { bodyOf, fetchTrusting, startTarget, startTlsTarget, type Target } from './target-service.ts';

const ORDERS = 'https://orders.internal';
const ath = (token: string) => createHash('sha256').update(token).digest('base64url');

describe('DPoP-bound tokens of the real service at a target (RFC 9449 §7)', () => {
  let t: TestService;
  let client: RegisteredClient;
  let key: SigningKey;
  let other: SigningKey;
  let target: Target;
  let bound: string;

  before(async () => {
    [key, other] = await Promise.all([createSigningKey('ES256'), createSigningKey('ES256')]);
    t = await startTestService({ RATE_LIMIT_TOKEN_PER_CLIENT: '0' });
    client = await t.registerClient({ client_id: 'dpop-caller' });
    target = await startTarget(createVerifier({ issuer: t.config.issuer, audience: ORDERS }));
    const proof = await signDpopProof({ key, htu: `${t.config.issuer}/token` });
    const res = await t.agent.post('/token').auth(client.clientId, client.secret).type('form').set('DPoP', proof).send({ grant_type: 'client_credentials' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.token_type, 'DPoP');
    bound = res.body.access_token;
    assert.deepEqual(decodeJwt(bound).cnf, { jkt: await jwkThumbprint(key) });
  });
  after(async () => {
    await target.close();
    await t.stop();
  });

  const ordersUrl = () => `${target.url}/orders`;
  const proofFor = (opts: { signer?: SigningKey; htm?: string; htu?: string; claims?: Record<string, unknown>; token?: string } = {}) =>
    signDpopProof({ key: opts.signer ?? key, htm: opts.htm ?? 'GET', htu: opts.htu ?? ordersUrl(), claims: { ath: ath(opts.token ?? bound), ...opts.claims } });
  const call = (headers: Record<string, string | string[]>) => {
    const h = new Headers();
    for (const [name, value] of Object.entries(headers)) for (const v of [value].flat()) h.append(name, v);
    return fetch(ordersUrl(), { headers: h });
  };

  async function expectDpopRefusal(res: Response, error: string, description: string) {
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'),
      `DPoP realm="orders", algs="${DEFAULT_DPOP_ALGORITHMS.join(' ')}", error="${error}", error_description="${description}"`);
  }

  it('accepts the token with the DPoP scheme and a proof for this request by its key', async () => {
    const res = await call({ authorization: `DPoP ${bound}`, dpop: await proofFor() });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual((await bodyOf(res)).binding, { method: 'dpop', jkt: await jwkThumbprint(key) });
    // htu is compared without query and fragment.
    assert.equal((await fetch(`${ordersUrl()}?page=2`, { headers: { authorization: `DPoP ${bound}`, dpop: await proofFor({ htu: `${ordersUrl()}?x=1` }) } })).status, 200);
  });

  it('refuses the token as Bearer, and without a proof, or with two', async () => {
    const asBearer = await call({ authorization: `Bearer ${bound}` });
    assert.equal(asBearer.status, 401);
    assert.match(asBearer.headers.get('www-authenticate')!, /^Bearer realm="orders", error="invalid_token", error_description="the access token is DPoP-bound/);
    await expectDpopRefusal(await call({ authorization: `DPoP ${bound}` }), 'invalid_dpop_proof', 'exactly one DPoP proof is required');
    await expectDpopRefusal(await call({ authorization: `DPoP ${bound}`, dpop: [await proofFor(), await proofFor()] }), 'invalid_dpop_proof', 'exactly one DPoP proof is required');
  });

  it('refuses a proof for another method, URL or token, a stale one, and one by another key', async () => {
    const cases: [Promise<string>, string][] = [
      [proofFor({ htm: 'POST' }), 'the DPoP proof was made for another method'],
      [proofFor({ htu: `${target.url}/refunds` }), 'the DPoP proof was made for another URL'],
      [proofFor({ htu: ordersUrl().replace('127.0.0.1', 'localhost') }), 'the DPoP proof was made for another URL'],
      [proofFor({ claims: { ath: ath('another token') } }), 'the DPoP proof was made for another access token'],
      [proofFor({ claims: { ath: undefined } }), 'the DPoP proof is not valid'],
      [proofFor({ claims: { iat: epochSeconds() - 120 } }), 'the DPoP proof is not fresh'],
      [proofFor({ claims: { iat: epochSeconds() + 120 } }), 'the DPoP proof is not fresh'],
      [proofFor({ signer: other }), 'the DPoP proof is not signed by the key the access token is bound to'],
      [signDpopProof({ key, htm: 'GET', htu: ordersUrl(), header: { typ: 'JWT' }, claims: { ath: ath(bound) } }), 'the DPoP proof is not valid'],
    ];
    for (const [proof, description] of cases) await expectDpopRefusal(await call({ authorization: `DPoP ${bound}`, dpop: await proof }), 'invalid_dpop_proof', description);
  });

  it('refuses a proof used a second time (jti replay within the window)', async () => {
    const proof = await proofFor();
    assert.equal((await call({ authorization: `DPoP ${bound}`, dpop: proof })).status, 200);
    await expectDpopRefusal(await call({ authorization: `DPoP ${bound}`, dpop: proof }), 'invalid_dpop_proof', 'the DPoP proof has been used before');
  });

  it('refuses an unbound token sent with the DPoP scheme', async () => {
    const bearer = await t.tokenFor(client.clientId, client.secret);
    await expectDpopRefusal(await call({ authorization: `DPoP ${bearer}`, dpop: await proofFor({ token: bearer }) }), 'invalid_token', 'the access token is not DPoP-bound: send it as Bearer');
    assert.equal((await call({ authorization: `Bearer ${bearer}` })).status, 200);
  });
});

describe('certificate-bound tokens of the real service at a target (RFC 8705 §3)', () => {
  const SPIFFE = 'spiffe://cluster.local/ns/shop/sa/orders-caller';
  let pki: Pki;
  let tls: TlsService;
  let cert: IssuedCertificate;
  let otherCert: IssuedCertificate;
  let bound: string;
  let verifier: ReturnType<typeof createVerifier>;

  before(async () => {
    pki = createPki();
    cert = pki.issue({ subject: '/O=shop/CN=orders-caller', uris: [SPIFFE] });
    otherCert = pki.issue({ subject: '/O=shop/CN=someone-else', uris: ['spiffe://cluster.local/ns/shop/sa/other'] });
    tls = await startTlsService(pki);
    const registered = await tls.admin('POST', '/admin/clients', {
      client_name: 'mtls caller', scope: 'orders:read', audience: [ORDERS], ...mtlsClient('mtls-caller', { tls_client_auth_san_uri: SPIFFE }),
    });
    assert.equal(registered.status, 201, registered.text);
    const issued = await tlsToken(tls.t, pki.ca1.certPem, cert, { client_id: 'mtls-caller' });
    assert.equal(issued.status, 200, issued.text);
    bound = String(issued.body.access_token);
    assert.deepEqual(decodeJwt(bound).cnf, { 'x5t#S256': cert.x5tS256 });
    verifier = createVerifier({ issuer: tls.t.config.issuer, audience: ORDERS, jwksOptions: { fetch: fetchTrusting(pki.ca1.certPem) } });
  });
  after(async () => {
    await tls.t.stop();
    pki.cleanup();
  });

  it('on the target\'s own TLS listener: accepts the certificate the token is bound to, and no other', async () => {
    const target = await startTlsTarget(verifier, pki.server);
    try {
      const call = (client?: IssuedCertificate) => tlsRequest(`${target.url}/orders`, { ca: pki.ca1.certPem, ...(client && { client }), headers: { authorization: `Bearer ${bound}` } });
      const ok = await call(cert);
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(ok.body.binding, { method: 'mtls', x5tS256: cert.x5tS256 });
      const wrong = await call(otherCert);
      assert.equal(wrong.status, 401);
      assert.equal(wrong.headers['www-authenticate'], 'Bearer realm="orders", error="invalid_token", error_description="the client certificate is not the one the access token is bound to"');
      const none = await call();
      assert.equal(none.status, 401);
      assert.match(String(none.headers['www-authenticate']), /the access token is certificate-bound: present its client certificate/);
    } finally {
      await target.close();
    }
  });

  it('behind a trusted proxy: believes its x-forwarded-client-cert (Cert or Istio\'s Hash only) or Client-Cert, and nothing forged', async () => {
    const target = await startTarget(verifier, { clientCertificates: { trustedProxies: ['127.0.0.0/8'] } });
    const rfc9440 = await startTarget(verifier, { clientCertificates: { trustedProxies: ['127.0.0.1'], header: 'client-cert' } });
    try {
      const call = (url: string, headers: Record<string, string>) => fetch(`${url}/orders`, { headers: { authorization: `Bearer ${bound}`, ...headers } });
      assert.equal((await call(target.url, { 'x-forwarded-client-cert': xfcc(cert, { uri: [SPIFFE] }) })).status, 200);
      assert.equal((await call(target.url, { 'x-forwarded-client-cert': xfcc(undefined, { hash: cert.sha256Hex, uri: [SPIFFE] }) })).status, 200);
      assert.equal((await call(rfc9440.url, { 'client-cert': clientCertHeader(cert) })).status, 200);

      const refused: [Record<string, string>, RegExp][] = [
        [{ 'x-forwarded-client-cert': xfcc(otherCert) }, /not the one the access token is bound to/],
        // The Hash must be the Cert's.
        [{ 'x-forwarded-client-cert': xfcc(otherCert, { hash: cert.sha256Hex }) }, /cannot be believed/],
        // Two elements where the proxy replaces the header (SANITIZE_SET): one was sent by the caller.
        [{ 'x-forwarded-client-cert': `${xfcc(cert)},${xfcc(otherCert)}` }, /cannot be believed/],
        // A SAN that appends ";Hash=…" after the URI is not the proxy's writing.
        [{ 'x-forwarded-client-cert': `${xfcc(undefined, { hash: otherCert.sha256Hex, uri: ['spiffe://x'] })};Hash=${cert.sha256Hex}` }, /cannot be believed/],
        [{ 'x-forwarded-client-cert': 'By=x;Hash=nothex' }, /cannot be believed/],
        [{}, /present its client certificate/],
      ];
      for (const [headers, description] of refused) {
        const res = await call(target.url, headers);
        assert.equal(res.status, 401, JSON.stringify(headers));
        assert.match(res.headers.get('www-authenticate')!, description);
      }
    } finally {
      await target.close();
      await rfc9440.close();
    }
  });

  it('with APPEND_FORWARD (elements: last): only the last element counts, and a SAN cut short by its "," cannot forge one', async () => {
    const target = await startTarget(verifier, { clientCertificates: { trustedProxies: ['127.0.0.1'], elements: 'last' } });
    try {
      const call = (header: string) => fetch(`${target.url}/orders`, { headers: { authorization: `Bearer ${bound}`, 'x-forwarded-client-cert': header } });
      const otherSan = 'spiffe://cluster.local/ns/shop/sa/other';
      assert.equal((await call(`${xfcc(otherCert, { uri: [otherSan] })},${xfcc(cert, { uri: [SPIFFE] })}`)).status, 200);
      assert.equal((await call(`${xfcc(cert, { uri: [SPIFFE] })},${xfcc(otherCert, { uri: [otherSan] })}`)).status, 401);
      // A workload whose CA let it choose a SAN with "," makes Envoy's own element read as two, the last naming the victim.
      const injector = pki.issue({ subject: '/O=shop/CN=evil', uris: [`spiffe://cluster.local/ns/shop/sa/evil,By=x;Hash=${cert.sha256Hex}`] });
      const res = await call(xfcc(injector, { uri: [`spiffe://cluster.local/ns/shop/sa/evil,By=x;Hash=${cert.sha256Hex}`] }));
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate')!, /cannot be believed/);
    } finally {
      await target.close();
    }
  });

  it('ignores the header from a peer that is not a trusted proxy', async () => {
    const target = await startTarget(verifier, { clientCertificates: { trustedProxies: ['10.0.0.5'] } });
    try {
      const res = await fetch(`${target.url}/orders`, { headers: { authorization: `Bearer ${bound}`, 'x-forwarded-client-cert': xfcc(cert) } });
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate')!, /present its client certificate/);
    } finally {
      await target.close();
    }
  });
});
