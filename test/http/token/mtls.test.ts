import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { createPki, type IssuedCertificate, type Pki } from '../../helpers/pki.ts';
import {
  clientCertHeader, envoyElement, eventsOf, expectBound, expectRejected, GRANT, mtlsClient, proxiedToken, SPIFFE_GATEWAY as GATEWAY,
  startTlsService, tlsRequest as sendOverTls, tlsToken as tokenOverTls, xfcc, type TlsService,
} from '../../helpers/mtls.ts';
import { startTestService, type TestService } from '../../helpers/start-app.ts';

/**
 * RFC 8705 client authentication, group C of the security cases: certificates on the service's own
 * TLS listener (a real handshake with node:https), and certificates forwarded by a proxy in Envoy's
 * x-forwarded-client-cert or RFC 9440 Client-Cert. For the forwarded cases the proxy is this test
 * process (127.0.0.1), trusted or not depending on each service's TRUSTED_CLIENT_CERT_PROXIES; the
 * headers it sends are what Envoy writes for the certificate in question.
 */

const SPIFFE_ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
const SPIFFE_ADMIN = 'spiffe://cluster.local/ns/shop/sa/admin';


let pki: Pki;
/** C1 (CA1) and C2 (CA2, the same subject and SAN URI) of the catalogue, and the variants the cases need. */
const certs = {} as Record<
  'c1' | 'c2' | 'c2NoAki' | 'c1Other' | 'expired' | 'notYetValid' | 'weak' | 'serverOnly' | 'evil' | 'trailingSlash'
  | 'twoUris' | 'cnOnly' | 'escapedComma' | 'sans' | 'ss1' | 'ss2' | 'admin' | 'punctuated' | 'commaInjector' | 'semicolonInjector',
  IssuedCertificate
>;


/** The helpers' TLS requests, trusting CA1 for the listener's certificate. */
const tlsRequest = (url: string, options: Omit<Parameters<typeof sendOverTls>[1], 'ca'>) => sendOverTls(url, { ca: pki.ca1.certPem, ...options });
const tlsToken = (t: TestService, client: IssuedCertificate | undefined, fields: Record<string, string>, extra?: Parameters<typeof tokenOverTls>[4]) =>
  tokenOverTls(t, pki.ca1.certPem, client, fields, extra);

/** A service believing this process's XFCC, with c-mtls (orders) and c-admin (admin) registered by SPIFFE ID. */
async function startXfccService(env: Record<string, string>): Promise<TestService> {
  const t = await startTestService({
    TLS_CLIENT_CA_FILE: pki.ca1.certFile,
    TRUSTED_CLIENT_CERT_PROXIES: '127.0.0.1',
    TRUSTED_CLIENT_CERT_HEADER: 'x-forwarded-client-cert',
    RATE_LIMIT_AUTH_FAILURES: '0',
    ...env,
  });
  await t.registerClient(mtlsClient('c-mtls', { tls_client_auth_san_uri: SPIFFE_ORDERS }));
  await t.registerClient(mtlsClient('c-admin', { tls_client_auth_san_uri: SPIFFE_ADMIN }));
  return t;
}

const sendXfcc = (t: TestService, header: string, fields: Record<string, string>) => proxiedToken(t, { 'x-forwarded-client-cert': header }, fields);

const publicJwk = (cert: IssuedCertificate) => createPublicKey(cert.certPem).export({ format: 'jwk' });

describe('mutual-TLS client authentication (RFC 8705)', () => {
  before(() => {
    pki = createPki();
    const orders = { subject: '/O=shop/CN=orders', uris: [SPIFFE_ORDERS] };
    const day = 86_400_000;
    Object.assign(certs, {
      c1: pki.issue(orders),
      c2: pki.issue({ ...orders, issuer: pki.ca2 }),
      // Without an authority key identifier only the signature tells CA2 from CA1 (same name).
      c2NoAki: pki.issue({ ...orders, issuer: pki.ca2, noAuthorityKeyId: true }),
      c1Other: pki.issue({ ...orders, subject: '/O=shop/CN=orders-2' }),
      expired: pki.issue({ ...orders, notBefore: new Date(Date.now() - 10 * day), notAfter: new Date(Date.now() - day) }),
      notYetValid: pki.issue({ ...orders, notBefore: new Date(Date.now() + day), notAfter: new Date(Date.now() + 2 * day) }),
      weak: pki.issue({ ...orders, keyBits: 1024 }),
      serverOnly: pki.issue({ ...orders, eku: 'serverAuth' }),
      evil: pki.issue({ uris: [`${SPIFFE_ORDERS}-evil`] }),
      trailingSlash: pki.issue({ uris: [`${SPIFFE_ORDERS}/`] }),
      twoUris: pki.issue({ uris: [SPIFFE_ORDERS, SPIFFE_ADMIN] }),
      cnOnly: pki.issue({ subject: `/CN=${SPIFFE_ORDERS.replace(/\//g, '\\/')}` }),
      // One CN whose value is "orders,O=shop": RFC 4514 writes it CN=orders\,O=shop.
      escapedComma: pki.issue({ subject: '/CN=orders,O=shop' }),
      sans: pki.issue({ subject: '/CN=orders', dns: ['orders.shop.internal'], ips: ['10.1.2.3', '::1'], emails: ['orders@shop.example'] }),
      ss1: pki.selfSigned({ subject: '/CN=self-signed one' }),
      ss2: pki.selfSigned({ subject: '/CN=self-signed two' }),
      admin: pki.issue({ subject: '/O=shop/CN=admin', uris: [SPIFFE_ADMIN] }),
      // A subject whose RFC 4514 form needs escaped "," and ";" inside quoted Subject="…".
      punctuated: pki.issue({ subject: '/O=shop; a, b/CN=orders, inc;x=1', uris: [SPIFFE_ORDERS] }),
    });
    // Workloads whose CA let them choose SAN text with "," ";" and '"': Envoy copies it unquoted
    // into its own element, so the SAN can append a whole element for admin (MT-08 g) or another URI (MT-08 h).
    const forgedElement = `By=${GATEWAY};Hash=${certs.admin.sha256Hex};Cert="${encodeURIComponent(certs.admin.certPem)}";Subject="CN=admin,O=shop";URI=${SPIFFE_ADMIN}`;
    certs.commaInjector = pki.issue({ subject: '/O=shop/CN=evil', uris: [`spiffe://cluster.local/ns/shop/sa/evil,${forgedElement}`] });
    certs.semicolonInjector = pki.issue({ subject: '/O=shop/CN=evil', uris: [`spiffe://cluster.local/ns/shop/sa/evil;URI=${SPIFFE_ADMIN}`] });
  });
  after(() => pki.cleanup());

  describe('on the service\'s own TLS listener', () => {
    let t: TestService;
    let admin: TlsService['admin'];

    /** The admin API over the listener (the shared supertest agent does not trust CA1). */
    before(async () => {
      // This process is also the trusted proxy on this listener, for MT-08 (f).
      ({ t, admin } = await startTlsService(pki));
      for (const body of [
        mtlsClient('c-mtls', { tls_client_auth_san_uri: SPIFFE_ORDERS }),
        mtlsClient('c-admin', { tls_client_auth_san_uri: SPIFFE_ADMIN }),
        mtlsClient('c-dn', { tls_client_auth_subject_dn: 'CN=orders,O=shop' }),
        mtlsClient('c-dn-spaced', { tls_client_auth_subject_dn: 'CN=orders, O=shop' }),
        mtlsClient('c-dn-reversed', { tls_client_auth_subject_dn: 'O=shop,CN=orders' }),
        mtlsClient('c-dn-escaped', { tls_client_auth_subject_dn: 'CN=orders\\,O=shop' }),
        mtlsClient('c-dns', { tls_client_auth_san_dns: 'orders.shop.internal' }),
        mtlsClient('c-ip', { tls_client_auth_san_ip: '10.1.2.3' }),
        mtlsClient('c-ip6', { tls_client_auth_san_ip: '0:0::1' }),
        mtlsClient('c-email', { tls_client_auth_san_email: 'orders@shop.example' }),
        { client_id: 'c-ss', token_endpoint_auth_method: 'self_signed_tls_client_auth', jwks: { keys: [publicJwk(certs.ss1)] } },
        { client_id: 'c-ss-x5c', token_endpoint_auth_method: 'self_signed_tls_client_auth', jwks: { keys: [{ kty: 'RSA', x5c: [certs.ss1.der.toString('base64')] }] } },
        { client_id: 'c-basic' },
      ]) {
        const res = await admin('POST', '/admin/clients', { client_name: 'test client', scope: 'orders:read orders:write', audience: ['https://orders.internal'], ...body });
        assert.equal(res.status, 201, res.text);
      }
    });
    after(() => t.stop());

    it('MT-01 issues a token bound to C1 (cnf x5t#S256) and audits the thumbprint, never the certificate', async () => {
      const res = await tlsToken(t, certs.c1, { client_id: 'c-mtls' });
      const claims = await expectBound(t, res, 'c-mtls', 'tls_client_auth', certs.c1.x5tS256);
      expectMatchesOpenApi(res, 'POST', '/token');
      assert.equal(claims.iss, t.config.issuer);
      assert.equal(claims.aud, 'https://orders.internal');
      const der = certs.c1.der.toString('base64');
      const audit = JSON.stringify(await t.auditEvents());
      const logs = t.logLines.join('\n');
      for (const text of [audit, logs]) {
        assert.ok(!text.includes('BEGIN CERTIFICATE') && !text.includes(der.slice(40, 120)), 'no certificate in audit or logs');
        assert.ok(!text.includes(String(res.body.access_token)), 'no token in audit or logs');
      }
    });

    it('MT-02 (a) refuses c-mtls without a certificate: certificate_missing', async () => {
      await expectRejected(t, await tlsToken(t, undefined, { client_id: 'c-mtls' }), { reason: 'certificate_missing', clientId: 'c-mtls' });
    });

    it('MT-02 (b) refuses C1 for c-basic sent without its secret: auth_method_mismatch', async () => {
      await expectRejected(t, await tlsToken(t, certs.c1, { client_id: 'c-basic' }), { reason: 'auth_method_mismatch', clientId: 'c-basic' });
    });

    it('MT-02 (c) answers C1 without client_id with 400 invalid_request (RFC 8705 §2: client_id is required)', async () => {
      await expectRejected(t, await tlsToken(t, certs.c1, {}), { status: 400, reason: 'no_client_authentication' });
    });

    it('MT-03 completes the handshake for C2 (same subject, CA2) and refuses it: cert_untrusted', async () => {
      await expectRejected(t, await tlsToken(t, certs.c2, { client_id: 'c-mtls' }), { reason: 'cert_untrusted', clientId: 'c-mtls' });
      // CA2 has CA1's very name: sending it as the chain, or leaving out the AKI, must not help.
      await expectRejected(t, await tlsToken(t, certs.c2, { client_id: 'c-mtls' }, { chain: [pki.ca2] }), { reason: 'cert_untrusted' });
      await expectRejected(t, await tlsToken(t, certs.c2NoAki, { client_id: 'c-mtls' }, { chain: [pki.ca2] }), { reason: 'cert_untrusted' });
    });

    it('MT-04 refuses C1 variants: expired, not yet valid, RSA-1024, and without the clientAuth EKU', async () => {
      for (const [cert, reason] of [
        [certs.expired, 'cert_expired'],
        [certs.notYetValid, 'cert_not_yet_valid'],
        [certs.weak, 'cert_weak_key'],
        [certs.serverOnly, 'cert_not_for_client_auth'],
      ] as const) {
        await expectRejected(t, await tlsToken(t, cert, { client_id: 'c-mtls' }), { reason, clientId: 'c-mtls' });
      }
    });

    it('MT-05 matches the SPIFFE ID exactly: -evil, a trailing slash, two URI SANs and the ID only in CN are refused', async () => {
      for (const cert of [certs.evil, certs.trailingSlash, certs.twoUris, certs.cnOnly]) {
        await expectRejected(t, await tlsToken(t, cert, { client_id: 'c-mtls' }), { reason: 'cert_subject_mismatch', clientId: 'c-mtls' });
      }
      // Two URI SANs do not make the certificate good for the second one either.
      await expectRejected(t, await tlsToken(t, certs.twoUris, { client_id: 'c-admin' }), { reason: 'cert_subject_mismatch' });
    });

    it('MT-05 compares DNs per RFC 4514: spacing is insignificant, an escaped comma and the RDN order are not', async () => {
      // C1's subject is O=shop, CN=orders, written "CN=orders,O=shop" (most specific RDN first).
      await expectBound(t, await tlsToken(t, certs.c1, { client_id: 'c-dn' }), 'c-dn', 'tls_client_auth', certs.c1.x5tS256);
      await expectBound(t, await tlsToken(t, certs.c1, { client_id: 'c-dn-spaced' }), 'c-dn-spaced', 'tls_client_auth', certs.c1.x5tS256);
      await expectRejected(t, await tlsToken(t, certs.escapedComma, { client_id: 'c-dn' }), { reason: 'cert_subject_mismatch', clientId: 'c-dn' });
      await expectRejected(t, await tlsToken(t, certs.c1, { client_id: 'c-dn-reversed' }), { reason: 'cert_subject_mismatch' });
      // Registered with the escape, the one-CN certificate matches and C1 does not.
      await expectBound(t, await tlsToken(t, certs.escapedComma, { client_id: 'c-dn-escaped' }), 'c-dn-escaped', 'tls_client_auth', certs.escapedComma.x5tS256);
      await expectRejected(t, await tlsToken(t, certs.c1, { client_id: 'c-dn-escaped' }), { reason: 'cert_subject_mismatch' });
    });

    it('MT-05 matches a registered DNS, IP (by value) or email SAN', async () => {
      for (const id of ['c-dns', 'c-ip', 'c-ip6', 'c-email']) {
        await expectBound(t, await tlsToken(t, certs.sans, { client_id: id }), id, 'tls_client_auth', certs.sans.x5tS256);
        await expectRejected(t, await tlsToken(t, certs.c1, { client_id: id }), { reason: 'cert_subject_mismatch', clientId: id });
      }
    });

    it('MT-06 accepts SS1 for c-ss, refuses SS2 and SS1 for c-mtls, and accepts SS2 once c-ss\'s jwks names it', async () => {
      await expectBound(t, await tlsToken(t, certs.ss1, { client_id: 'c-ss' }), 'c-ss', 'self_signed_tls_client_auth', certs.ss1.x5tS256);
      await expectBound(t, await tlsToken(t, certs.ss1, { client_id: 'c-ss-x5c' }), 'c-ss-x5c', 'self_signed_tls_client_auth', certs.ss1.x5tS256);
      await expectRejected(t, await tlsToken(t, certs.ss2, { client_id: 'c-ss' }), { reason: 'cert_not_registered', clientId: 'c-ss' });
      await expectRejected(t, await tlsToken(t, certs.ss2, { client_id: 'c-ss-x5c' }), { reason: 'cert_not_registered' });
      await expectRejected(t, await tlsToken(t, certs.ss1, { client_id: 'c-mtls' }), { reason: 'cert_untrusted', clientId: 'c-mtls' });
      // A CA-issued certificate is not a self-signed client's key.
      await expectRejected(t, await tlsToken(t, certs.c1, { client_id: 'c-ss' }), { reason: 'cert_not_registered' });

      const patched = await admin('PATCH', '/admin/clients/c-ss', { jwks: { keys: [{ ...publicJwk(certs.ss2), x5c: [certs.ss2.der.toString('base64')] }] } });
      assert.equal(patched.status, 200, patched.text);
      await expectBound(t, await tlsToken(t, certs.ss2, { client_id: 'c-ss' }), 'c-ss', 'self_signed_tls_client_auth', certs.ss2.x5tS256);
      await expectRejected(t, await tlsToken(t, certs.ss1, { client_id: 'c-ss' }), { reason: 'cert_not_registered' });
    });

    it('MT-08 (f) refuses a direct TLS certificate beside a different forwarded one: conflicting_certificates', async () => {
      const res = await tlsToken(t, certs.c1, { client_id: 'c-mtls' }, { headers: { 'x-forwarded-client-cert': xfcc(certs.c1Other, { uri: [SPIFFE_ORDERS] }) } });
      await expectRejected(t, res, { reason: 'conflicting_certificates', clientId: 'c-mtls' });
      // The same certificate both ways is one certificate.
      const same = await tlsToken(t, certs.c1, { client_id: 'c-mtls' }, { headers: { 'x-forwarded-client-cert': xfcc(certs.c1, { uri: [SPIFFE_ORDERS] }) } });
      await expectBound(t, same, 'c-mtls', 'tls_client_auth', certs.c1.x5tS256);
    });

    it('advertises tls_client_certificate_bound_access_tokens and both certificate methods in discovery', async () => {
      for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
        const res = await tlsRequest(`${t.url}${path}`, {});
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.tls_client_certificate_bound_access_tokens, true);
        assert.equal(res.body.issuer, t.config.issuer);
        const methods = res.body.token_endpoint_auth_methods_supported as string[];
        assert.ok(methods.includes('tls_client_auth') && methods.includes('self_signed_tls_client_auth'), JSON.stringify(methods));
      }
    });

    it('MT-01 serves openid-client v6 with TlsClientAuth() and a fetch that presents C1', async () => {
      // openid-client takes the client certificate from the fetch it is given (RFC 8705 §2 puts it in
      // the TLS layer). Node's global fetch cannot present one without undici's Agent, which is not a
      // dependency here, so this fetch makes the request with node:https and returns a Fetch Response.
      const fetchWithC1: oidc.CustomFetch = async (url, options) => {
        const body = options.body === undefined || options.body === null ? undefined : String(options.body as unknown);
        const res = await tlsRequest(url, { method: options.method, client: certs.c1, headers: options.headers, ...(body !== undefined && { body }) });
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
        return new Response(res.text, { status: res.status, headers });
      };
      const config = await oidc.discovery(new URL(t.config.issuer), 'c-mtls', undefined, oidc.TlsClientAuth(), { [oidc.customFetch]: fetchWithC1 });
      assert.equal(config.serverMetadata().tls_client_certificate_bound_access_tokens, true);
      const tokens = await oidc.clientCredentialsGrant(config, { scope: 'orders:read' });
      assert.equal(tokens.token_type, 'bearer');
      assert.equal(tokens.scope, 'orders:read');
      const claims = decodeJwt(tokens.access_token);
      assert.equal(claims.client_id, 'c-mtls');
      assert.deepEqual(claims.cnf, { 'x5t#S256': certs.c1.x5tS256 });
      const [issued] = (await t.auditEvents({ type: 'token.issued', clientId: 'c-mtls' })).filter((e) => e.jti === claims.jti);
      assert.equal(issued?.authMethod, 'tls_client_auth');
    });

    it('AD-04 (c) refuses certificate-method registrations with two subject fields, none, a malformed DN or mismatched keys', async () => {
      for (const [body, field] of [
        [mtlsClient('c-two', { tls_client_auth_san_uri: SPIFFE_ORDERS, tls_client_auth_subject_dn: 'CN=orders,O=shop' }), 'tls_client_auth_subject_dn'],
        [mtlsClient('c-none', {}), 'tls_client_auth_san_uri'],
        [mtlsClient('c-bad-dn', { tls_client_auth_subject_dn: 'orders, shop' }), 'tls_client_auth_subject_dn'],
        [mtlsClient('c-bad-uri', { tls_client_auth_san_uri: 'not a uri' }), 'tls_client_auth_san_uri'],
        [mtlsClient('c-bad-ip', { tls_client_auth_san_ip: '10.1.2' }), 'tls_client_auth_san_ip'],
        [{ client_id: 'c-ss-none', token_endpoint_auth_method: 'self_signed_tls_client_auth' }, 'jwks'],
        // RFC 7517 §4.7: the key in x5c MUST match the JWK's; otherwise either would authenticate.
        [{ client_id: 'c-ss-mixed', token_endpoint_auth_method: 'self_signed_tls_client_auth', jwks: { keys: [{ ...publicJwk(certs.ss1), x5c: [certs.ss2.der.toString('base64')] }] } }, 'jwks'],
        [{ client_id: 'c-ss-weak', token_endpoint_auth_method: 'self_signed_tls_client_auth', jwks: { keys: [publicJwk(certs.weak)] } }, 'jwks'],
      ] as const) {
        const res = await admin('POST', '/admin/clients', { client_name: 'x', scope: 'orders:read', audience: ['https://orders.internal'], ...body });
        assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
        assert.match(String(res.headers['content-type'] ?? ''), /^application\/problem\+json(;|$)/);
        const names = (res.body.invalid_params as { name: string }[]).map((p) => p.name);
        assert.ok(names.some((n) => n === field || n.split(' | ').includes(field)), `${field} in ${JSON.stringify(names)}`);
        expectMatchesOpenApi(res, 'POST', '/admin/clients');
        assert.equal((await admin('GET', `/admin/clients/${body.client_id}`)).status, 404, 'nothing was registered');
      }
    });
  });

  describe('forwarded by a trusted proxy in x-forwarded-client-cert (one element, Envoy SANITIZE_SET)', () => {
    let t: TestService;

    before(async () => {
      t = await startXfccService({});
    });
    after(() => t.stop());

    const send = (header: string, fields: Record<string, string> = { client_id: 'c-mtls' }) => sendXfcc(t, header, fields);

    it('MT-08 (a) accepts one element carrying C1 and binds the token to C1', async () => {
      const res = await send(xfcc(certs.c1, { uri: [SPIFFE_ORDERS], subject: 'CN=orders,O=shop' }));
      await expectBound(t, res, 'c-mtls', 'tls_client_auth', certs.c1.x5tS256);
      expectMatchesOpenApi(res, 'POST', '/token');
      // Every detail Envoy can be configured to send, in its order, describing C1.
      await expectBound(t, await send(envoyElement(certs.c1)), 'c-mtls', 'tls_client_auth', certs.c1.x5tS256);
    });

    it('MT-08 (b) refuses two elements by default, in one header line or two: forwarded_cert_too_many_elements', async () => {
      const attacker = xfcc(certs.c2, { uri: [SPIFFE_ADMIN], by: SPIFFE_ADMIN });
      const header = `${attacker},${xfcc(certs.c1, { uri: [SPIFFE_ORDERS] })}`;
      await expectRejected(t, await send(header), { reason: 'forwarded_cert_too_many_elements', clientId: 'c-mtls' });
      await expectRejected(t, await send(header, { client_id: 'c-admin' }), { reason: 'forwarded_cert_too_many_elements', clientId: 'c-admin' });
      const split = await t.agent.post('/token').type('form').set({ 'x-forwarded-client-cert': [attacker, xfcc(certs.c1)] }).send({ ...GRANT, client_id: 'c-mtls' });
      await expectRejected(t, split, { reason: 'forwarded_cert_too_many_elements', clientId: 'c-mtls' });
    });

    it('MT-08 (g) refuses a SAN that appends ",Cert=<admin\'s certificate>" to the proxy\'s own element', async () => {
      // Envoy copies the URI SAN unquoted: its "," starts what would read as a second, perfect element for admin.
      const header = envoyElement(certs.commaInjector);
      assert.ok(header.endsWith(`,By=${GATEWAY};Hash=${certs.admin.sha256Hex};Cert="${encodeURIComponent(certs.admin.certPem)}";Subject="CN=admin,O=shop";URI=${SPIFFE_ADMIN}`));
      await expectRejected(t, await send(header, { client_id: 'c-admin' }), { reason: 'forwarded_cert_too_many_elements', clientId: 'c-admin' });
    });

    it('MT-08 (h) refuses a SAN that injects ";URI=<admin>" into the element: forwarded_identity_mismatch', async () => {
      const header = envoyElement(certs.semicolonInjector);
      assert.ok(header.endsWith(`;URI=spiffe://cluster.local/ns/shop/sa/evil;URI=${SPIFFE_ADMIN}`));
      await expectRejected(t, await send(header, { client_id: 'c-admin' }), { reason: 'forwarded_identity_mismatch', clientId: 'c-admin' });
      // URI, DNS or Subject that the Cert does not hold, from whatever source: refused the same way.
      for (const element of [
        xfcc(certs.c1, { uri: [SPIFFE_ADMIN] }),
        xfcc(certs.c1, { uri: [SPIFFE_ORDERS], dns: ['admin.shop.internal'] }),
        xfcc(certs.c1, { uri: [SPIFFE_ORDERS], subject: 'CN=admin,O=shop' }),
        xfcc(certs.c1, { uri: [SPIFFE_ORDERS], chain: [certs.admin] }),
      ]) {
        await expectRejected(t, await send(element), { reason: 'forwarded_identity_mismatch', clientId: 'c-mtls' });
      }
    });

    it('MT-08 (h) refuses what only a SAN with ";" or \'"\' can write: keys after URI, a key twice, quoting Envoy never uses', async () => {
      const pem = encodeURIComponent(certs.c1.certPem);
      for (const header of [
        `${xfcc(certs.c2, { uri: [SPIFFE_ORDERS] })};Cert="${pem}"`, // a second Cert, after URI
        `By=${GATEWAY};Hash=${certs.c1.sha256Hex};Cert="${pem}";URI=${SPIFFE_ORDERS};Hash=${certs.c1.sha256Hex}`, // Hash twice, and after URI
        `By=${GATEWAY};Cert="${pem}";Hash=${certs.c1.sha256Hex};URI=${SPIFFE_ORDERS}`, // Hash after Cert
        `By=${GATEWAY};Hash=${certs.c1.sha256Hex};Cert="${pem}";DNS=orders.shop.internal;URI=${SPIFFE_ORDERS}`, // URI after DNS
        `By=${GATEWAY};Hash=${certs.c1.sha256Hex};Cert=${pem};URI=${SPIFFE_ORDERS}`, // Cert unquoted
        `By=${GATEWAY};Hash=${certs.c1.sha256Hex};Cert="${pem}";URI="${SPIFFE_ORDERS}"`, // URI quoted
        `By=${GATEWAY};Hash=${certs.c1.sha256Hex};Cert="${pem}";URI=${SPIFFE_ORDERS}"x"`, // a quote inside URI
        `By=${GATEWAY};Hash=${certs.c1.sha256Hex};Cert="${pem}";URI=${SPIFFE_ORDERS};Role=admin`, // a key Envoy never writes
      ]) {
        await expectRejected(t, await send(header), { reason: 'forwarded_cert_injection', clientId: 'c-mtls' });
      }
    });

    it('MT-08 (c) refuses a Hash that is not the SHA-256 of Cert: forwarded_hash_mismatch', async () => {
      await expectRejected(t, await send(xfcc(certs.c1, { hash: certs.c2.sha256Hex })), { reason: 'forwarded_hash_mismatch', clientId: 'c-mtls' });
    });

    it('MT-08 (d) still verifies the chain of a forwarded Cert: CA2 is refused with cert_untrusted', async () => {
      await expectRejected(t, await send(xfcc(certs.c2, { uri: [SPIFFE_ORDERS] })), { reason: 'cert_untrusted', clientId: 'c-mtls' });
      // CA2's certificate in the element's Chain, and a C2 without AKI: only CA1's signature counts.
      const withChain = xfcc(certs.c2NoAki, { chain: [certs.c2NoAki, pki.ca2], uri: [SPIFFE_ORDERS] });
      await expectRejected(t, await send(withChain), { reason: 'cert_untrusted', clientId: 'c-mtls' });
      await expectRejected(t, await send(xfcc(certs.expired)), { reason: 'cert_expired' });
    });

    it('MT-08 (e) reads quoted ";" and "," inside values, and refuses broken quoting or %-encoding without a 5xx', async () => {
      const quoted = xfcc(certs.punctuated, { subject: 'CN=orders\\, inc\\;x=1,O=shop\\; a\\, b', uri: [SPIFFE_ORDERS] });
      await expectBound(t, await send(quoted), 'c-mtls', 'tls_client_auth', certs.punctuated.x5tS256);
      const pem = encodeURIComponent(certs.c1.certPem);
      for (const header of [
        `Hash=${certs.c1.sha256Hex};Cert="${pem}`, // unterminated quote
        `Hash=${certs.c1.sha256Hex};Cert="${pem.slice(0, 200)}%E0%A4%A"`, // truncated %-escape
        `Hash=${certs.c1.sha256Hex};Cert="${pem.replace(/%0A/g, '%ZZ')}"`, // not %-encoding at all
        `Cert="${encodeURIComponent('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')}"`, // no certificate inside
        `Hash;Cert="${pem}"`, // a pair without "="
      ]) {
        await expectRejected(t, await send(header), { reason: 'forwarded_cert_malformed', clientId: 'c-mtls' });
      }
    });

    it('MT-08 (e) answers a 32 KB header with 431 before reading it, and keeps serving', async () => {
      const res = await send(`${xfcc(certs.c1)};Subject="${'a'.repeat(32 * 1024)}"`);
      assert.equal(res.status, 431);
      assert.equal((await send(xfcc(certs.c1))).status, 200);
    });

    it('MT-08 refuses an element without Cert (Istio\'s default) unless TRUST_PROXY_VERIFIED_IDENTITY=true', async () => {
      const res = await send(xfcc(undefined, { hash: certs.c1.sha256Hex, subject: 'CN=orders,O=shop', uri: [SPIFFE_ORDERS] }));
      await expectRejected(t, res, { reason: 'forwarded_identity_not_trusted', clientId: 'c-mtls' });
    });

    it('MT-02 (a) refuses c-mtls from the trusted proxy without any certificate header: certificate_missing', async () => {
      await expectRejected(t, await proxiedToken(t, {}, { client_id: 'c-mtls' }), { reason: 'certificate_missing', clientId: 'c-mtls' });
    });
  });

  describe('forwarded through a proxy chain that appends (TRUSTED_CLIENT_CERT_ELEMENTS=last, Envoy APPEND_FORWARD)', () => {
    let t: TestService;

    before(async () => {
      t = await startXfccService({ TRUSTED_CLIENT_CERT_ELEMENTS: 'last' });
    });
    after(() => t.stop());

    const send = (header: string, fields: Record<string, string> = { client_id: 'c-mtls' }) => sendXfcc(t, header, fields);

    it('MT-08 (b) believes only the element the proxy appended last, never a client-supplied one before it', async () => {
      // The client's own element, a perfect one for admin (certificates are public): it does not count.
      const attacker = envoyElement(certs.admin);
      const header = `${attacker},${xfcc(certs.c1, { uri: [SPIFFE_ORDERS] })}`;
      await expectBound(t, await send(header), 'c-mtls', 'tls_client_auth', certs.c1.x5tS256);
      await expectRejected(t, await send(header, { client_id: 'c-admin' }), { reason: 'cert_subject_mismatch', clientId: 'c-admin' });
      // The other way round, the attacker's element is last only if the proxy did not append one: still CA2.
      await expectRejected(t, await send(`${xfcc(certs.c1)},${xfcc(certs.c2, { uri: [SPIFFE_ORDERS] })}`), { reason: 'cert_untrusted', clientId: 'c-mtls' });
      // Split over two header lines, the same order holds (Node joins them with ", ").
      const split = await t.agent.post('/token').type('form').set({ 'x-forwarded-client-cert': [attacker, xfcc(certs.c1)] }).send({ ...GRANT, client_id: 'c-mtls' });
      await expectBound(t, split, 'c-mtls', 'tls_client_auth', certs.c1.x5tS256);
      // An earlier element that contradicts its own Cert is what a cut-short SAN leaves behind: refused.
      const contradicting = `${xfcc(certs.c2, { uri: [SPIFFE_ADMIN], by: SPIFFE_ADMIN })},${xfcc(certs.c1, { uri: [SPIFFE_ORDERS] })}`;
      await expectRejected(t, await send(contradicting), { reason: 'forwarded_identity_mismatch', clientId: 'c-mtls' });
    });

    it('MT-08 (g) refuses a SAN-appended ",Cert=<admin>" element: the proxy\'s truncated element no longer matches its Cert', async () => {
      const res = await send(envoyElement(certs.commaInjector), { client_id: 'c-admin' });
      await expectRejected(t, res, { reason: 'forwarded_identity_mismatch', clientId: 'c-admin' });
      // Behind an earlier element from the client, just the same.
      await expectRejected(t, await send(`${xfcc(certs.c1)},${envoyElement(certs.commaInjector)}`, { client_id: 'c-admin' }), { reason: 'forwarded_identity_mismatch' });
    });

    it('MT-08 (h) refuses ";URI=" injected into the last element, as in one-element mode', async () => {
      await expectRejected(t, await send(`${xfcc(certs.c1)},${envoyElement(certs.semicolonInjector)}`, { client_id: 'c-admin' }), { reason: 'forwarded_identity_mismatch', clientId: 'c-admin' });
    });
  });
  describe('forwarded by a trusted proxy that verified the identity itself (TRUST_PROXY_VERIFIED_IDENTITY=true)', () => {
    let t: TestService;

    before(async () => {
      t = await startTestService({
        TLS_CLIENT_CA_FILE: pki.ca1.certFile,
        TRUSTED_CLIENT_CERT_PROXIES: '127.0.0.1',
        TRUSTED_CLIENT_CERT_HEADER: 'x-forwarded-client-cert',
        TRUST_PROXY_VERIFIED_IDENTITY: 'true',
        RATE_LIMIT_AUTH_FAILURES: '0',
      });
      await t.registerClient(mtlsClient('c-mtls', { tls_client_auth_san_uri: SPIFFE_ORDERS }));
      await t.registerClient(mtlsClient('c-dn', { tls_client_auth_subject_dn: 'CN=orders,O=shop' }));
      await t.registerClient(mtlsClient('c-admin', { tls_client_auth_san_uri: SPIFFE_ADMIN }));
    });
    after(() => t.stop());

    const istio = (fields: { hash?: string; subject?: string; uri?: string[] }) =>
      proxiedToken(t, { 'x-forwarded-client-cert': xfcc(undefined, { hash: certs.c1.sha256Hex, ...fields }) }, {});

    it('MT-08 matches the URI of an element without Cert and takes x5t#S256 from its Hash', async () => {
      const res = await proxiedToken(t, { 'x-forwarded-client-cert': xfcc(undefined, { hash: certs.c1.sha256Hex, subject: '', uri: [SPIFFE_ORDERS] }) }, { client_id: 'c-mtls' });
      await expectBound(t, res, 'c-mtls', 'tls_client_auth', certs.c1.x5tS256);
    });

    it('MT-05 matches the proxy-verified URI and Subject exactly', async () => {
      const as = async (clientId: string, fields: { subject?: string; uri?: string[] }) =>
        await proxiedToken(t, { 'x-forwarded-client-cert': xfcc(undefined, { hash: certs.c1.sha256Hex, ...fields }) }, { client_id: clientId });
      for (const uri of [[`${SPIFFE_ORDERS}-evil`], [`${SPIFFE_ORDERS}/`], [SPIFFE_ORDERS, SPIFFE_ADMIN], []]) {
        await expectRejected(t, await as('c-mtls', { uri }), { reason: 'cert_subject_mismatch', clientId: 'c-mtls' });
      }
      await expectBound(t, await as('c-dn', { subject: 'CN=orders,O=shop' }), 'c-dn', 'tls_client_auth', certs.c1.x5tS256);
      await expectBound(t, await as('c-dn', { subject: 'CN=orders, O=shop' }), 'c-dn', 'tls_client_auth', certs.c1.x5tS256);
      await expectRejected(t, await as('c-dn', { subject: 'CN=orders\\,O=shop' }), { reason: 'cert_subject_mismatch', clientId: 'c-dn' });
    });

    it('MT-08 (e) refuses an element without Cert whose Hash is not a SHA-256: forwarded_cert_malformed', async () => {
      for (const hash of ['', 'abc', certs.c1.x5tS256]) {
        const res = await proxiedToken(t, { 'x-forwarded-client-cert': xfcc(undefined, { hash, uri: [SPIFFE_ORDERS] }) }, { client_id: 'c-mtls' });
        await expectRejected(t, res, { reason: 'forwarded_cert_malformed', clientId: 'c-mtls' });
      }
      // Without client_id there is nothing to authenticate as.
      await expectRejected(t, await istio({ uri: [SPIFFE_ORDERS] }), { status: 400, reason: 'no_client_authentication' });
    });

    it('MT-08 (g)(h) applies the same rules without Cert: SAN-injected elements, Hash and URI values are refused', async () => {
      const evil = 'spiffe://cluster.local/ns/shop/sa/evil';
      const send = (header: string) => proxiedToken(t, { 'x-forwarded-client-cert': header }, { client_id: 'c-admin' });
      // What Envoy writes for SANs "evil,By=…;Hash=<admin's>;URI=<admin>", "evil;Hash=<admin's>" and "evil;URI=<admin>".
      const head = `By=${GATEWAY};Hash=${certs.c1.sha256Hex};Subject="CN=evil,O=shop";URI=${evil}`;
      await expectRejected(t, await send(`${head},By=${GATEWAY};Hash=${certs.admin.sha256Hex};URI=${SPIFFE_ADMIN}`), { reason: 'forwarded_cert_too_many_elements', clientId: 'c-admin' });
      await expectRejected(t, await send(`${head};Hash=${certs.admin.sha256Hex}`), { reason: 'forwarded_cert_injection', clientId: 'c-admin' });
      await expectRejected(t, await send(`${head};Subject="CN=admin,O=shop"`), { reason: 'forwarded_cert_injection', clientId: 'c-admin' });
      // Two URI SANs are never one SPIFFE identity (MT-05).
      await expectRejected(t, await send(`${head};URI=${SPIFFE_ADMIN}`), { reason: 'cert_subject_mismatch', clientId: 'c-admin' });
      // A SAN Envoy would have had to quote, or one with a trailing space that trimming would turn into admin's
      // (at the very end of the header HTTP itself drops it: RFC 9110 §5.5).
      for (const uri of [`"${SPIFFE_ADMIN}"`, `${SPIFFE_ADMIN}"x"`, `${SPIFFE_ADMIN} `, `${SPIFFE_ADMIN}\t`]) {
        const header = `By=${GATEWAY};Hash=${certs.admin.sha256Hex};URI=${uri};DNS=admin.shop.internal`;
        await expectRejected(t, await send(header), { reason: 'forwarded_cert_injection', clientId: 'c-admin' });
      }
    });
  });

  describe('forwarded in RFC 9440 Client-Cert by a trusted proxy', () => {
    let t: TestService;

    before(async () => {
      t = await startTestService({
        TLS_CLIENT_CA_FILE: pki.ca1.certFile,
        TRUSTED_CLIENT_CERT_PROXIES: '127.0.0.1',
        TRUSTED_CLIENT_CERT_HEADER: 'client-cert',
        RATE_LIMIT_AUTH_FAILURES: '0',
      });
      await t.registerClient(mtlsClient('c-mtls', { tls_client_auth_san_uri: SPIFFE_ORDERS }));
    });
    after(() => t.stop());

    it('MT-08 (a) accepts C1 as :base64(DER): and binds the token to it', async () => {
      await expectBound(t, await proxiedToken(t, { 'client-cert': clientCertHeader(certs.c1) }, { client_id: 'c-mtls' }), 'c-mtls', 'tls_client_auth', certs.c1.x5tS256);
    });

    it('MT-08 (d)(e) refuses C2 (cert_untrusted) and a value that is not an sf-binary certificate', async () => {
      await expectRejected(t, await proxiedToken(t, { 'client-cert': clientCertHeader(certs.c2) }, { client_id: 'c-mtls' }), { reason: 'cert_untrusted', clientId: 'c-mtls' });
      const two = `${clientCertHeader(certs.c1)}, ${clientCertHeader(certs.c2)}`;
      for (const value of [certs.c1.der.toString('base64'), ':not base64!:', ':AAAA:', encodeURIComponent(certs.c1.certPem), two]) {
        await expectRejected(t, await proxiedToken(t, { 'client-cert': value }, { client_id: 'c-mtls' }), { reason: 'forwarded_cert_malformed' });
      }
    });

    it('MT-07 ignores x-forwarded-client-cert when the configured header is client-cert: untrusted_forwarded_cert', async () => {
      const res = await proxiedToken(t, { 'x-forwarded-client-cert': xfcc(certs.c1, { uri: [SPIFFE_ORDERS] }) }, { client_id: 'c-mtls' });
      await expectRejected(t, res, { reason: 'untrusted_forwarded_cert', clientId: 'c-mtls' });
    });
  });

  describe('certificate headers from a peer trusted for X-Forwarded-For only (TRUSTED_PROXIES=127.0.0.1, TRUSTED_CLIENT_CERT_PROXIES=10.0.0.5)', () => {
    let t: TestService;

    before(async () => {
      t = await startTestService({
        TLS_CLIENT_CA_FILE: pki.ca1.certFile,
        // This process is the load balancer: believed for client addresses, not for certificates.
        TRUSTED_PROXIES: '127.0.0.1',
        TRUSTED_CLIENT_CERT_PROXIES: '10.0.0.5',
        TRUSTED_CLIENT_CERT_HEADER: 'x-forwarded-client-cert',
        RATE_LIMIT_AUTH_FAILURES: '0',
      });
      await t.registerClient(mtlsClient('c-mtls', { tls_client_auth_san_uri: SPIFFE_ORDERS }));
    });
    after(() => t.stop());

    it('MT-07 never believes XFCC, Client-Cert or X-Forwarded-For naming the certificate proxy from 127.0.0.1: untrusted_forwarded_cert', async () => {
      const element = xfcc(certs.c1, { uri: [SPIFFE_ORDERS] });
      for (const headers of [
        { 'x-forwarded-client-cert': element },
        { 'client-cert': clientCertHeader(certs.c1) },
        { 'x-forwarded-client-cert': element, 'x-forwarded-for': '10.0.0.5' },
      ] as Record<string, string>[]) {
        await expectRejected(t, await proxiedToken(t, headers, { client_id: 'c-mtls' }), { reason: 'untrusted_forwarded_cert', clientId: 'c-mtls' });
      }
      // The same peer's X-Forwarded-For is believed: trusted for addresses, not for certificates.
      const res = await proxiedToken(t, { 'x-forwarded-client-cert': element, 'x-forwarded-for': '203.0.113.7' }, { client_id: 'c-mtls' });
      const [denied] = await eventsOf(t, res, 'token.denied');
      assert.equal(denied?.reason, 'untrusted_forwarded_cert');
      assert.equal(denied?.sourceAddress, '203.0.113.7');
    });

    it('MT-02 (a) over plain HTTP from an untrusted peer, a bare client_id is CA-04\'s request without credentials: 400', async () => {
      // No certificate can arrive on this channel, so c-mtls presented no credential at all.
      await expectRejected(t, await proxiedToken(t, {}, { client_id: 'c-mtls' }), { status: 400, reason: 'no_client_authentication' });
    });
  });

  describe('certificate headers when the feature is unset (TRUSTED_PROXIES=127.0.0.1, no TRUSTED_CLIENT_CERT_HEADER)', () => {
    let t: TestService;

    before(async () => {
      t = await startTestService({ TLS_CLIENT_CA_FILE: pki.ca1.certFile, TRUSTED_PROXIES: '127.0.0.1', RATE_LIMIT_AUTH_FAILURES: '0' });
      await t.registerClient(mtlsClient('c-mtls', { tls_client_auth_san_uri: SPIFFE_ORDERS }));
    });
    after(() => t.stop());

    it('MT-07 ignores XFCC and Client-Cert even from a listed proxy: untrusted_forwarded_cert', async () => {
      for (const headers of [{ 'x-forwarded-client-cert': xfcc(certs.c1, { uri: [SPIFFE_ORDERS] }) }, { 'client-cert': clientCertHeader(certs.c1) }] as Record<string, string>[]) {
        await expectRejected(t, await proxiedToken(t, headers, { client_id: 'c-mtls' }), { reason: 'untrusted_forwarded_cert', clientId: 'c-mtls' });
      }
    });

    it('does not advertise certificate-bound tokens without a TLS listener or a trusted certificate header', async () => {
      const res = await t.agent.get('/.well-known/oauth-authorization-server');
      assert.equal(res.status, 200);
      assert.equal(res.body.tls_client_certificate_bound_access_tokens, false);
    });
  });
});
