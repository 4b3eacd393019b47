import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { parseSubjectAltNames } from '../../src/tls/subject-alt-names.ts';
import { expectBound, expectRejected, GRANT, mtlsClient, rfc2253Subject, xfcc, type Reply } from '../helpers/mtls.ts';
import { createPki, type IssuedCertificate, type Pki } from '../helpers/pki.ts';
import { startTestService, type TestService } from '../helpers/start-app.ts';
import { kubectlMissing, render } from './kustomize.ts';
import { envOf, literalEnv, SERVICE_CONTAINER, SIDECAR_SOURCES, serviceDeployments } from './manifest-checks.ts';

/**
 * The XFCC settings of overlays/postgresql-istio, end to end: the service configured with the
 * overlay's TRUSTED_CLIENT_CERT_* variables receives the element that the overlay's sidecar
 * settings (proxy.istio.io/config) make Envoy write, from the address Istio's inbound sidecar
 * connects from (127.0.0.6: all of 127/8 is this machine's loopback).
 */
const SKIP = kubectlMissing();
const OVERLAY = 'deploy/overlays/postgresql-istio';
const CALLER = 'spiffe://cluster.local/ns/shop/sa/checkout';

type CertDetails = { cert?: boolean; chain?: boolean; subject?: boolean; uri?: boolean; dns?: boolean };

/** POST /token over plain HTTP from `localAddress`, as the sidecar forwards it. */
function tokenFrom(t: TestService, localAddress: string, header: string | undefined, fields: Record<string, string>): Promise<Reply> {
  const body = new URLSearchParams({ ...GRANT, ...fields }).toString();
  return new Promise((resolve, reject) => {
    const req = http.request(`${t.url}/token`, {
      method: 'POST',
      localAddress,
      agent: false,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(header && { 'x-forwarded-client-cert': header }) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => { text += c; }).on('end', () => {
        let parsed: Record<string, unknown> = {};
        try {
          parsed = JSON.parse(text) as Record<string, unknown>;
        } catch { /* not JSON */ }
        resolve({ status: res.statusCode!, headers: res.headers, body: parsed, text });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the Istio overlay\'s XFCC settings, against the running service', { skip: SKIP }, () => {
  let pki: Pki;
  let t: TestService;
  let caller: IssuedCertificate;
  let details: CertDetails;
  let sidecarIdentity: string;

  before(async () => {
    const objects = render(OVERLAY);
    const [deployment] = serviceDeployments(objects);
    const main = deployment!.spec.template.spec.containers.find((c) => c.name === SERVICE_CONTAINER)!;
    const config = parse(deployment!.spec.template.metadata.annotations!['proxy.istio.io/config']!) as { proxyHeaders: { setCurrentClientCertDetails?: CertDetails } };
    details = config.proxyHeaders.setCurrentClientCertDetails ?? {};
    // Envoy's By: the identity of the sidecar that terminated the caller's mTLS, this workload's.
    sidecarIdentity = `spiffe://cluster.local/ns/${deployment!.metadata.namespace}/sa/${(deployment!.spec.template.spec as { serviceAccountName?: string }).serviceAccountName}`;
    const env: Record<string, string> = {};
    for (const name of ['TRUSTED_CLIENT_CERT_HEADER', 'TRUSTED_CLIENT_CERT_PROXIES', 'TRUSTED_CLIENT_CERT_ELEMENTS', 'TRUST_PROXY_VERIFIED_IDENTITY']) {
      const value = literalEnv(objects, envOf(main, name));
      if (value !== undefined) env[name] = value;
    }
    assert.equal(env.TRUSTED_CLIENT_CERT_HEADER, 'x-forwarded-client-cert');
    pki = createPki();
    // CA1 plays the mesh root (istio-ca-root-cert); the caller's workload certificate has only its SPIFFE ID.
    caller = pki.issue({ uris: [CALLER] });
    t = await startTestService({ ...env, TLS_CLIENT_CA_FILE: pki.ca1.certFile, RATE_LIMIT_AUTH_FAILURES: '0' });
    await t.registerClient(mtlsClient('checkout', { tls_client_auth_san_uri: CALLER }));
  });
  after(async () => {
    await t?.stop();
    pki?.cleanup();
  });

  /** The element the configured sidecar writes for `cert`: Hash always, then what setCurrentClientCertDetails asks for. */
  const element = (cert: IssuedCertificate) => xfcc(details.cert ? cert : undefined, {
    by: sidecarIdentity,
    hash: cert.sha256Hex,
    ...(details.subject !== false && { subject: rfc2253Subject(cert) }),
    ...(details.uri !== false && { uri: parseSubjectAltNames(cert.x509.subjectAltName).uri }),
    ...(details.dns !== false && { dns: parseSubjectAltNames(cert.x509.subjectAltName).dns }),
  });

  it('issues a token bound to the caller\'s certificate when the sidecar forwards it from 127.0.0.6', async () => {
    assert.ok(details.cert, 'the overlay forwards Cert');
    const res = await tokenFrom(t, SIDECAR_SOURCES[0]!, element(caller), { client_id: 'checkout' });
    await expectBound(t, res, 'checkout', 'tls_client_auth', caller.x5tS256);
  });

  it('believes no such header from any other address: a pod that reached the port directly', async () => {
    const res = await tokenFrom(t, '127.0.0.1', element(caller), { client_id: 'checkout' });
    await expectRejected(t, res, { reason: 'untrusted_forwarded_cert', clientId: 'checkout' });
  });

  it('refuses a header with the caller\'s own element before the sidecar\'s (what APPEND_FORWARD would pass on)', async () => {
    const forged = pki.issue({ uris: ['spiffe://cluster.local/ns/shop/sa/other'] });
    const res = await tokenFrom(t, SIDECAR_SOURCES[0]!, `${element(caller)},${element(forged)}`, { client_id: 'checkout' });
    await expectRejected(t, res, { reason: 'forwarded_cert_too_many_elements', clientId: 'checkout' });
  });

  it('refuses an element without Cert: the overlay does not believe the proxy\'s word alone', async () => {
    const res = await tokenFrom(t, SIDECAR_SOURCES[0]!, xfcc(undefined, { by: sidecarIdentity, hash: caller.sha256Hex, uri: [CALLER] }), { client_id: 'checkout' });
    await expectRejected(t, res, { reason: 'forwarded_identity_not_trusted', clientId: 'checkout' });
  });
});
