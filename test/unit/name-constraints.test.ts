import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createChainValidator, type ChainValidator } from '../../src/tls/certificate-validation.ts';
import { createPki, type CertificateAuthority, type Pki } from '../helpers/pki.ts';

/**
 * RFC 5280 §4.2.1.10 name forms the HTTP tests (URI and DNS) do not reach: iPAddress, rfc822Name (in
 * subjectAltName and as the subject's legacy emailAddress attribute) and directoryName, on chains
 * made by openssl below CA1 and judged by the validator the token endpoint uses.
 */
describe('name constraints of the validator (RFC 5280 §6.1.3 (b)(c))', () => {
  let pki: Pki;
  let validator: ChainValidator;
  let ip: CertificateAuthority;
  let email: CertificateAuthority;
  let directory: CertificateAuthority;

  before(() => {
    pki = createPki();
    validator = createChainValidator([pki.ca1.x509]);
    ip = pki.intermediate({ nameConstraints: 'critical,permitted;IP:10.0.0.0/255.0.0.0' });
    email = pki.intermediate({ nameConstraints: 'critical,permitted;email:.shop.example' });
    // Its O=shop subtree is below the intermediate's own name (O=Test PKI), as the directoryName form allows.
    directory = pki.intermediate({ nameConstraints: 'critical,permitted;dirName:dir_sect', extensions: ['[dir_sect]', 'O = shop'] });
  });
  after(() => pki.cleanup());

  const judge = (issuer: CertificateAuthority, options: Parameters<Pki['issue']>[0]) => {
    const leaf = pki.issue({ subject: '/O=shop/CN=orders', ...options, issuer });
    return validator.validate(leaf.x509, [issuer.x509], new Date());
  };

  it('permits an IP SAN inside 10.0.0.0/8 and refuses one outside it, and an IPv6 SAN under an IPv4-only constraint', () => {
    assert.equal(judge(ip, { ips: ['10.1.2.3'] }), undefined);
    assert.equal(judge(ip, { ips: ['10.1.2.3', '192.168.1.1'] }), 'cert_name_not_permitted');
    assert.equal(judge(ip, { ips: ['::1'] }), 'cert_name_not_permitted');
  });

  it('permits an email below .shop.example and refuses another domain, in the SAN or as the subject\'s emailAddress', () => {
    assert.equal(judge(email, { emails: ['orders@eu.shop.example'] }), undefined);
    assert.equal(judge(email, { emails: ['orders@evil.example'] }), 'cert_name_not_permitted');
    // ".shop.example" means below it: the domain itself is not inside.
    assert.equal(judge(email, { emails: ['orders@shop.example'] }), 'cert_name_not_permitted');
    assert.equal(judge(email, { subject: '/O=shop/CN=orders/emailAddress=orders@evil.example' }), 'cert_name_not_permitted');
  });

  it('permits a subject below O=shop and refuses O=evil', () => {
    assert.equal(judge(directory, { subject: '/O=shop/CN=orders' }), undefined);
    assert.equal(judge(directory, { subject: '/O=evil/CN=orders' }), 'cert_name_not_permitted');
  });
});
