import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import type { Response } from 'supertest';
import { createSigningKey, epochSeconds, signDpopProof, type SigningKey } from '../../helpers/assertion.ts';
import { freePort } from '../../helpers/free-port.ts';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { createPki, type IssuedCertificate, type Pki } from '../../helpers/pki.ts';
import { expectProblemDocument } from '../../helpers/problem.ts';
import { BOOTSTRAP_SECRET, startTestService, type TestService } from '../../helpers/start-app.ts';

/**
 * Admin tokens bound to a key (RFC 9449 DPoP, cnf.jkt) or a certificate (RFC 8705, cnf.x5t#S256)
 * open the admin API only together with what they are bound to (AD-01): a stolen bound token
 * alone, as a plain Bearer, is worthless.
 */

const ALL_ADMIN_SCOPES = 'admin:clients admin:keys admin:audit';
const ath = (token: string) => createHash('sha256').update(token, 'ascii').digest('base64url');

async function deniedReasons(t: TestService, res: { headers: Record<string, unknown> }) {
  return (await t.auditEvents({ type: 'admin.denied' })).filter((e) => e.requestId === res.headers['x-request-id']).map((e) => e.reason);
}

describe('DPoP-bound admin tokens (RFC 9449 §7)', () => {
  let t: TestService;
  let key: SigningKey;
  let otherKey: SigningKey;
  let token: string;
  let plainToken: string;

  before(async () => {
    [key, otherKey] = await Promise.all([createSigningKey('ES256'), createSigningKey('ES256')]);
    t = await startTestService();
    const admin = await t.registerClient({ client_id: 'c-dpop-admin', scope: ALL_ADMIN_SCOPES, audience: [`${t.config.issuer}/admin`] });
    const res = await t.agent.post('/token').auth(admin.clientId, admin.secret).type('form')
      .set('DPoP', await signDpopProof({ key, htu: `${t.config.issuer}/token`, now: epochSeconds(t.clock.now()) }))
      .send({ grant_type: 'client_credentials' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.token_type, 'DPoP');
    token = res.body.access_token;
    assert.ok((decodeJwt(token).cnf as { jkt?: string }).jkt);
    plainToken = await t.tokenFor(admin.clientId, admin.secret);
  });
  after(() => t.stop());

  const url = (path: string) => `${t.config.issuer}${path}`;
  function proof(opts: { htm?: string; path?: string; claims?: Record<string, unknown>; signer?: SigningKey } = {}) {
    return signDpopProof({
      key: opts.signer ?? key,
      htm: opts.htm ?? 'GET',
      htu: url(opts.path ?? '/admin/clients'),
      now: epochSeconds(t.clock.now()),
      claims: { ath: ath(token), ...opts.claims },
    });
  }
  function get(path: string, authorization: string, proofs: string[] = []) {
    const req = t.agent.get(path).set('authorization', authorization);
    // Several DPoP header lines on purpose: supertest sends an array as repeated header fields.
    if (proofs.length) req.set('DPoP', (proofs.length === 1 ? proofs[0]! : proofs) as string);
    return req;
  }

  async function expectRefused(res: Response, reason: string, challenge: RegExp) {
    expectProblemDocument(res, 401);
    expectMatchesOpenApi(res, 'GET', '/admin/clients');
    assert.match(String(res.headers['www-authenticate']), challenge);
    assert.deepEqual(await deniedReasons(t, res), [reason]);
  }

  it('AD-01 refuses a DPoP-bound admin token sent as a plain Bearer token', async () => {
    await expectRefused(await get('/admin/clients', `Bearer ${token}`), 'dpop_bound_token_as_bearer', /^Bearer error="invalid_token"$/);
    await expectRefused(await get('/admin/clients', `Bearer ${token}`, [await proof()]), 'dpop_bound_token_as_bearer', /^Bearer error="invalid_token"$/);
  });

  it('AD-01 accepts it with the DPoP scheme and a proof for this method, URL (query left out) and token', async () => {
    const res = await get('/admin/clients', `DPoP ${token}`, [await proof()]);
    assert.equal(res.status, 200, res.text);
    expectMatchesOpenApi(res, 'GET', '/admin/clients');
    const paged = await get('/admin/clients?limit=1', `dpop ${token}`, [await proof()]);
    assert.equal(paged.status, 200, paged.text);
    const created = await t.agent.post('/admin/clients').set('authorization', `DPoP ${token}`)
      .set('DPoP', await proof({ htm: 'POST' })).send({ client_name: 'via dpop', scope: 'orders:read', audience: ['https://orders.internal'] });
    assert.equal(created.status, 201, created.text);
    const rotate = await t.agent.post(`/admin/clients/${created.body.client_id}/secret`).set('authorization', `DPoP ${token}`)
      .set('DPoP', await proof({ htm: 'POST', path: `/admin/clients/${created.body.client_id}/secret` })).send({});
    assert.equal(rotate.status, 200, rotate.text);
  });

  it('AD-01 refuses a replayed proof, even on the same request', async () => {
    const once = await proof();
    assert.equal((await get('/admin/clients', `DPoP ${token}`, [once])).status, 200);
    await expectRefused(await get('/admin/clients', `DPoP ${token}`, [once]), 'dpop_replayed', /^DPoP error="invalid_dpop_proof", algs="[^"]*ES256/);
  });

  it('AD-01 refuses proofs for another URL, another method, another token, or none, and proofs by another key', async () => {
    const cases: Array<[string, () => Promise<string[]>]> = [
      ['dpop_wrong_htu', async () => [await proof({ path: '/admin/keys' })]],
      ['dpop_wrong_htu', async () => [await signDpopProof({ key, htm: 'GET', htu: `${t.config.issuer}/token`, now: epochSeconds(t.clock.now()), claims: { ath: ath(token) } })]],
      ['dpop_wrong_htm', async () => [await proof({ htm: 'POST' })]],
      ['dpop_wrong_ath', async () => [await proof({ claims: { ath: ath(plainToken) } })]],
      ['dpop_missing_ath', async () => [await proof({ claims: { ath: undefined } })]],
      ['dpop_stale', async () => [await proof({ claims: { iat: epochSeconds(t.clock.now()) - 600 } })]],
      ['dpop_key_mismatch', async () => [await proof({ signer: otherKey })]],
      ['dpop_proof_missing', async () => []],
      ['dpop_multiple_proofs', async () => [await proof(), await proof()]],
    ];
    for (const [reason, proofs] of cases) {
      await expectRefused(await get('/admin/clients', `DPoP ${token}`, await proofs()), reason, /^DPoP error="invalid_dpop_proof"/);
    }
  });

  it('AD-01 refuses an unbound admin token sent with the DPoP scheme, and still takes it as Bearer', async () => {
    await expectRefused(await get('/admin/clients', `DPoP ${plainToken}`, [await proof()]), 'token_not_dpop_bound', /^DPoP error="invalid_token"/);
    assert.equal((await get('/admin/clients', `Bearer ${plainToken}`)).status, 200);
  });
});

/** Only what the assertions read, so node:https answers look like supertest's. */
type Reply = { status: number; headers: Record<string, string | string[] | undefined>; body: Record<string, unknown>; text: string };

describe('certificate-bound admin tokens (RFC 8705 §3)', () => {
  let pki: Pki;
  let cert: IssuedCertificate;
  let otherCert: IssuedCertificate;
  const SPIFFE_OPS = 'spiffe://cluster.local/ns/ops/sa/admin';

  before(() => {
    pki = createPki();
    cert = pki.issue({ subject: '/O=ops/CN=admin', uris: [SPIFFE_OPS] });
    otherCert = pki.issue({ subject: '/O=ops/CN=admin-2', uris: [SPIFFE_OPS] });
  });
  after(() => pki.cleanup());

  const adminClient = (issuer: string) => ({
    client_id: 'c-mtls-admin',
    token_endpoint_auth_method: 'tls_client_auth',
    tls_client_auth_san_uri: SPIFFE_OPS,
    scope: ALL_ADMIN_SCOPES,
    audience: [`${issuer}/admin`],
  });

  describe('forwarded by a trusted proxy (RFC 9440 Client-Cert)', () => {
    let t: TestService;
    let token: string;
    const clientCert = (c: IssuedCertificate) => `:${c.der.toString('base64')}:`;

    before(async () => {
      t = await startTestService({ TLS_CLIENT_CA_FILE: pki.ca1.certFile, TRUSTED_CLIENT_CERT_PROXIES: '127.0.0.1', TRUSTED_CLIENT_CERT_HEADER: 'client-cert' });
      await t.registerClient(adminClient(t.config.issuer));
      const res = await t.agent.post('/token').type('form').set('client-cert', clientCert(cert))
        .send({ grant_type: 'client_credentials', client_id: 'c-mtls-admin' });
      assert.equal(res.status, 200, res.text);
      token = res.body.access_token;
      assert.deepEqual(decodeJwt(token).cnf, { 'x5t#S256': cert.x5tS256 });
    });
    after(() => t.stop());

    it('AD-01 refuses a certificate-bound admin token without its certificate, or with another one', async () => {
      const bare = await t.agent.get('/admin/clients').set('authorization', `Bearer ${token}`);
      expectProblemDocument(bare, 401);
      expectMatchesOpenApi(bare, 'GET', '/admin/clients');
      assert.deepEqual(await deniedReasons(t, bare), ['certificate_required']);
      const other = await t.agent.get('/admin/clients').set('authorization', `Bearer ${token}`).set('client-cert', clientCert(otherCert));
      expectProblemDocument(other, 401);
      assert.deepEqual(await deniedReasons(t, other), ['certificate_mismatch']);
    });

    it('AD-01 accepts it with the certificate it is bound to', async () => {
      const res = await t.agent.get('/admin/clients').set('authorization', `Bearer ${token}`).set('client-cert', clientCert(cert));
      assert.equal(res.status, 200, res.text);
    });
  });

  describe('on the service\'s own TLS listener', () => {
    let t: TestService;
    let token: string;

    function tlsRequest(path: string, options: { method?: string; client?: IssuedCertificate; headers?: Record<string, string>; body?: string }): Promise<Reply> {
      return new Promise((resolve, reject) => {
        const req = https.request(`${t.url}${path}`, {
          method: options.method ?? 'GET',
          ca: pki.ca1.certPem,
          agent: false,
          headers: options.headers,
          ...(options.client && { cert: options.client.certPem, key: options.client.keyPem }),
        }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ status: res.statusCode!, headers: res.headers, body: text.startsWith('{') ? JSON.parse(text) : {}, text });
          });
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(options.body);
      });
    }

    before(async () => {
      const port = await freePort();
      t = await startTestService({
        PORT: String(port),
        ISSUER: `https://127.0.0.1:${port}`,
        TLS_CERT_FILE: pki.server.certFile,
        TLS_KEY_FILE: pki.server.keyFile,
        TLS_CLIENT_CA_FILE: pki.ca1.certFile,
      });
      const bootstrap = await tlsRequest('/token', {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${t.config.bootstrapAdmin.clientId}:${BOOTSTRAP_SECRET}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials',
      });
      assert.equal(bootstrap.status, 200, bootstrap.text);
      const registered = await tlsRequest('/admin/clients', {
        method: 'POST',
        headers: { authorization: `Bearer ${bootstrap.body.access_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ client_name: 'mtls admin', ...adminClient(t.config.issuer) }),
      });
      assert.equal(registered.status, 201, registered.text);
      const res = await tlsRequest('/token', {
        method: 'POST',
        client: cert,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&client_id=c-mtls-admin',
      });
      assert.equal(res.status, 200, res.text);
      token = String(res.body.access_token);
      assert.deepEqual(decodeJwt(token).cnf, { 'x5t#S256': cert.x5tS256 });
    });
    after(() => t.stop());

    it('AD-01 accepts a certificate-bound admin token only on a connection presenting its certificate', async () => {
      const withCert = await tlsRequest('/admin/keys', { client: cert, headers: { authorization: `Bearer ${token}` } });
      assert.equal(withCert.status, 200, withCert.text);
      const without = await tlsRequest('/admin/keys', { headers: { authorization: `Bearer ${token}` } });
      assert.equal(without.status, 401, without.text);
      assert.deepEqual(await deniedReasons(t, without), ['certificate_required']);
      const other = await tlsRequest('/admin/keys', { client: otherCert, headers: { authorization: `Bearer ${token}` } });
      assert.equal(other.status, 401, other.text);
      assert.deepEqual(await deniedReasons(t, other), ['certificate_mismatch']);
    });
  });
});
