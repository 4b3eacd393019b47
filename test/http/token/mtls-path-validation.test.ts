import assert from 'node:assert/strict';
import { parseSubjectAltNames } from '../../../src/tls/subject-alt-names.ts';
import { after, before, describe, it } from 'node:test';
import { expectBound, expectRejected, mtlsClient, startTlsService, tlsToken, type Reply } from '../../helpers/mtls.ts';
import { createPki, type CertificateAuthority, type IssuedCertificate, type Pki } from '../../helpers/pki.ts';
import type { TestService } from '../../helpers/start-app.ts';

/**
 * RFC 5280 §6.1 path validation for tls_client_auth (issue 8, item 3; extends MT-03, MT-04 and
 * MT-08 (d)). Every chain is made at test time by openssl below the configured CA1, and each one is
 * sent twice to the same service: in the TLS handshake of its own listener, and forwarded by the
 * trusted proxy (this process) as Envoy's XFCC Cert and Chain. Both must give the same verdict, and a
 * refusal is 401 invalid_client with exactly one token.denied carrying the case's own reason.
 */

const ORDERS = 'spiffe://cluster.local/ns/shop/sa/orders';
const OTHER_DOMAIN = 'spiffe://other-domain/ns/shop/sa/orders';
const UNKNOWN_CRITICAL = '1.3.6.1.4.1.55555.1.1 = critical,ASN1:UTF8String:not understood';
const DAY = 86_400_000;

type Case = {
  name: string;
  /** The client certificate, and the CA certificates sent after it, in the order sent. */
  chain: () => [IssuedCertificate, ...IssuedCertificate[]];
  /** The audit reason of the refusal; undefined when the chain is good. */
  reason: string | undefined;
};

let pki: Pki;
const ca = {} as Record<
  | 'good' | 'pathLen0' | 'belowPathLen0' | 'caFalse' | 'noBasicConstraints' | 'noKeyCertSign' | 'uriPermitted' | 'uriExcluded'
  | 'dnsPermitted' | 'dnsExcluded' | 'criticalUnknown' | 'sha1' | 'expired' | 'notYetValid' | 'underCa2',
  CertificateAuthority
>;
const leaf = (issuer: CertificateAuthority, options: Parameters<Pki['issue']>[0] = {}) => pki.issue({ subject: '/O=shop/CN=orders', uris: [ORDERS], ...options, issuer });

const cases: Case[] = [
  { name: 'accepts root → intermediate → leaf', chain: () => [leaf(ca.good), ca.good], reason: undefined },
  {
    name: 'builds the path whatever the order of the intermediates and ignores a copy of the root among them (the pathLen 0 case): cert_path_too_long',
    chain: () => [leaf(ca.belowPathLen0), pki.ca1, ca.pathLen0, ca.belowPathLen0],
    reason: 'cert_path_too_long',
  },
  { name: 'accepts a leaf directly below a pathLenConstraint 0 intermediate', chain: () => [leaf(ca.pathLen0), ca.pathLen0], reason: undefined },
  { name: 'refuses a CA below a pathLenConstraint 0 intermediate: cert_path_too_long', chain: () => [leaf(ca.belowPathLen0), ca.belowPathLen0, ca.pathLen0], reason: 'cert_path_too_long' },
  { name: 'refuses an intermediate with CA:FALSE: cert_issuer_not_ca', chain: () => [leaf(ca.caFalse), ca.caFalse], reason: 'cert_issuer_not_ca' },
  { name: 'refuses an intermediate without basicConstraints: cert_issuer_not_ca', chain: () => [leaf(ca.noBasicConstraints), ca.noBasicConstraints], reason: 'cert_issuer_not_ca' },
  { name: 'refuses an intermediate whose keyUsage lacks keyCertSign: cert_issuer_not_for_cert_signing', chain: () => [leaf(ca.noKeyCertSign), ca.noKeyCertSign], reason: 'cert_issuer_not_for_cert_signing' },
  { name: 'accepts a SPIFFE ID inside a permitted URI subtree', chain: () => [leaf(ca.uriPermitted), ca.uriPermitted], reason: undefined },
  { name: 'refuses spiffe://other-domain/… below an intermediate permitting only cluster.local: cert_name_not_permitted', chain: () => [leaf(ca.uriPermitted, { uris: [OTHER_DOMAIN] }), ca.uriPermitted], reason: 'cert_name_not_permitted' },
  { name: 'refuses a leaf with one URI inside and one outside the permitted subtree: cert_name_not_permitted', chain: () => [leaf(ca.uriPermitted, { uris: [ORDERS, OTHER_DOMAIN] }), ca.uriPermitted], reason: 'cert_name_not_permitted' },
  { name: 'refuses a SPIFFE ID inside an excluded URI subtree: cert_name_excluded', chain: () => [leaf(ca.uriExcluded), ca.uriExcluded], reason: 'cert_name_excluded' },
  { name: 'accepts a DNS SAN inside a permitted DNS subtree', chain: () => [leaf(ca.dnsPermitted, { dns: ['orders.shop.internal'] }), ca.dnsPermitted], reason: undefined },
  { name: 'refuses a DNS SAN outside the permitted DNS subtree: cert_name_not_permitted', chain: () => [leaf(ca.dnsPermitted, { dns: ['orders.evil.example'] }), ca.dnsPermitted], reason: 'cert_name_not_permitted' },
  { name: 'refuses a DNS SAN inside an excluded DNS subtree: cert_name_excluded', chain: () => [leaf(ca.dnsExcluded, { dns: ['api.evil.example'] }), ca.dnsExcluded], reason: 'cert_name_excluded' },
  { name: 'refuses an unknown critical extension in the leaf: cert_unknown_critical_extension', chain: () => [leaf(ca.good, { extensions: [UNKNOWN_CRITICAL] }), ca.good], reason: 'cert_unknown_critical_extension' },
  { name: 'refuses an unknown critical extension in an intermediate: cert_unknown_critical_extension', chain: () => [leaf(ca.criticalUnknown), ca.criticalUnknown], reason: 'cert_unknown_critical_extension' },
  { name: 'refuses a SHA-1 signed leaf: cert_weak_signature', chain: () => [leaf(ca.good, { md: 'sha1' }), ca.good], reason: 'cert_weak_signature' },
  { name: 'refuses a SHA-1 signed intermediate: cert_weak_signature', chain: () => [leaf(ca.sha1), ca.sha1], reason: 'cert_weak_signature' },
  { name: 'refuses a CA certificate (CA:TRUE) as the client certificate: cert_is_ca', chain: () => [ca.good], reason: 'cert_is_ca' },
  { name: 'refuses a leaf below an expired intermediate: cert_issuer_expired', chain: () => [leaf(ca.expired), ca.expired], reason: 'cert_issuer_expired' },
  { name: 'refuses a leaf below a not yet valid intermediate: cert_issuer_not_yet_valid', chain: () => [leaf(ca.notYetValid), ca.notYetValid], reason: 'cert_issuer_not_yet_valid' },
  { name: 'refuses a well-formed chain to CA2 (not configured): cert_untrusted', chain: () => [leaf(ca.underCa2), ca.underCa2, pki.ca2], reason: 'cert_untrusted' },
  { name: 'refuses a leaf whose intermediate was left out: cert_untrusted', chain: () => [leaf(ca.good)], reason: 'cert_untrusted' },
];
/** Envoy's XFCC element for a chain: Hash and Cert of the leaf, Chain the whole chain as received. */
/** The element Envoy writes: Hash, Cert, Chain, then the certificate's own URI SANs (which the service cross-checks). */
function xfccWithChain(chain: readonly IssuedCertificate[]): string {
  const [first] = chain;
  const uris = parseSubjectAltNames(first!.x509.subjectAltName).uri.map((uri) => `;URI=${uri}`).join('');
  return `Hash=${first!.sha256Hex};Cert="${encodeURIComponent(first!.certPem)}";Chain="${encodeURIComponent(chain.map((c) => c.certPem).join(''))}"${uris}`;
}

describe('RFC 5280 path validation of client certificate chains (tls_client_auth)', () => {
  let t: TestService;
  const chains = new Map<string, [IssuedCertificate, ...IssuedCertificate[]]>();

  before(async () => {
    pki = createPki();
    const past = { notBefore: new Date(Date.now() - 20 * DAY), notAfter: new Date(Date.now() - DAY) };
    Object.assign(ca, {
      good: pki.intermediate(),
      pathLen0: pki.intermediate({ pathLen: 0 }),
      caFalse: pki.intermediate({ basicConstraints: 'critical,CA:FALSE' }),
      noBasicConstraints: pki.intermediate({ basicConstraints: 'none' }),
      noKeyCertSign: pki.intermediate({ keyUsage: 'critical,digitalSignature,cRLSign' }),
      uriPermitted: pki.intermediate({ nameConstraints: 'critical,permitted;URI:cluster.local' }),
      uriExcluded: pki.intermediate({ nameConstraints: 'critical,excluded;URI:cluster.local' }),
      dnsPermitted: pki.intermediate({ nameConstraints: 'critical,permitted;DNS:shop.internal' }),
      dnsExcluded: pki.intermediate({ nameConstraints: 'critical,excluded;DNS:evil.example' }),
      criticalUnknown: pki.intermediate({ extensions: [UNKNOWN_CRITICAL] }),
      sha1: pki.intermediate({ md: 'sha1' }),
      expired: pki.intermediate(past),
      notYetValid: pki.intermediate({ notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 20 * DAY) }),
      underCa2: pki.intermediate({ issuer: pki.ca2 }),
    });
    ca.belowPathLen0 = pki.intermediate({ issuer: ca.pathLen0 });
    for (const c of cases) chains.set(c.name, c.chain());

    const service = await startTlsService(pki);
    t = service.t;
    const registered = await service.admin('POST', '/admin/clients', {
      client_name: 'orders',
      scope: 'orders:read',
      audience: ['https://orders.internal'],
      ...mtlsClient('c-mtls', { tls_client_auth_san_uri: ORDERS }),
    });
    assert.equal(registered.status, 201, registered.text);
  });
  after(async () => {
    await t?.stop();
    pki.cleanup();
  });

  async function expectVerdict(res: Reply, c: Case, chain: readonly IssuedCertificate[]) {
    if (c.reason === undefined) await expectBound(t, res, 'c-mtls', 'tls_client_auth', chain[0]!.x5tS256);
    else await expectRejected(t, res, { reason: c.reason, clientId: 'c-mtls' });
  }

  for (const c of cases) {
    it(`${c.name}, in the TLS handshake`, async () => {
      const [client, ...rest] = chains.get(c.name)!;
      // A client can lower its own OpenSSL security level to send SHA-1 certificates; so does this one.
      const res = await tlsToken(t, pki.ca1.certPem, client, { client_id: 'c-mtls' }, { chain: rest, allowWeakCertificates: true });
      await expectVerdict(res, c, [client, ...rest]);
    });
    it(`${c.name}, forwarded by the trusted proxy in XFCC Cert and Chain`, async () => {
      const chain = chains.get(c.name)!;
      const res = await tlsToken(t, pki.ca1.certPem, undefined, { client_id: 'c-mtls' }, { headers: { 'x-forwarded-client-cert': xfccWithChain(chain) } });
      await expectVerdict(res, c, chain);
    });
  }

  it('refuses more than five CA certificates sent with the leaf, before judging any of them: cert_untrusted', async () => {
    const chain = [leaf(ca.good), ca.good, ca.good, ca.pathLen0, ca.sha1, ca.expired, ca.caFalse];
    const direct = await tlsToken(t, pki.ca1.certPem, chain[0], { client_id: 'c-mtls' }, { chain: chain.slice(1), allowWeakCertificates: true });
    await expectRejected(t, direct, { reason: 'cert_untrusted' });
    const forwarded = await tlsToken(t, pki.ca1.certPem, undefined, { client_id: 'c-mtls' }, { headers: { 'x-forwarded-client-cert': xfccWithChain(chain) } });
    await expectRejected(t, forwarded, { reason: 'cert_untrusted' });
  });
});
