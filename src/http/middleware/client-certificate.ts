import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { CertificateEvidence } from '../../oauth/token-request.ts';
import { thumbprintS256 } from '../../tls/client-certificate.ts';
import { resolveForwardedCertificate, type ForwardedHeaderKind } from '../../tls/forwarded-certificate.ts';
import { createAddressMatcher } from './address-matcher.ts';

const KNOWN_CERT_HEADERS: readonly ForwardedHeaderKind[] = ['x-forwarded-client-cert', 'client-cert'];

export type ClientCertificateConfig = {
  trustedClientCertHeader: ForwardedHeaderKind | undefined;
  /** Not TRUSTED_PROXIES: a load balancer believed for X-Forwarded-For is not thereby believed for certificates. */
  trustedClientCertProxies: readonly string[];
  trustedClientCertElements: 'one' | 'last';
  trustProxyVerifiedIdentity: boolean;
};

/**
 * The certificate on our own TLS connection, followed by the certificates the client sent with it in
 * the order it sent them. getPeerX509Certificate() keeps that order; getPeerCertificate(true) does
 * not: it links issuers with OpenSSL's X509_check_issued, which silently drops a CA certificate
 * without keyCertSign, and appends the trust anchor from our store. The validator must see what a
 * proxy forwarding the same handshake would see (its XFCC Chain), so both get one verdict.
 */
function fromTlsSocket(req: IncomingMessage): X509Certificate[] | undefined {
  const socket = req.socket as Partial<TLSSocket>;
  if (!socket.encrypted || typeof socket.getPeerX509Certificate !== 'function') return undefined;
  const chain: X509Certificate[] = [];
  // One more than the validator accepts, so an over-long chain is refused rather than cut short.
  for (let cert = socket.getPeerX509Certificate(); cert && chain.length < 7; cert = cert.issuerCertificate) chain.push(cert);
  return chain.length ? chain : undefined;
}

/**
 * What the request proves about a client certificate (RFC 8705 §2, contract §2): the one on our own
 * listener, or the one a proxy listed in TRUSTED_CLIENT_CERT_PROXIES forwarded in TRUSTED_CLIENT_CERT_HEADER.
 * The same header from any other peer is never believed, only noted for the audit log.
 */
export function createClientCertificateReader(config: ClientCertificateConfig) {
  const isTrustedProxy = createAddressMatcher(config.trustedClientCertProxies);
  const forwardedOptions = { trustVerifiedIdentity: config.trustProxyVerifiedIdentity, elements: config.trustedClientCertElements };
  return function readClientCertificate(req: IncomingMessage): CertificateEvidence {
    const direct = fromTlsSocket(req);
    const onTls = (req.socket as Partial<TLSSocket>).encrypted === true;
    const evidence: CertificateEvidence = { channel: onTls, untrustedForwarded: false };
    if (direct) evidence.certificate = { kind: 'certificate', source: 'tls', leaf: direct[0]!, intermediates: direct.slice(1) };

    const peerTrusted = config.trustedClientCertHeader !== undefined && isTrustedProxy(req.socket.remoteAddress);
    for (const name of KNOWN_CERT_HEADERS) {
      const value = req.headers[name];
      if (value === undefined) continue;
      if (name !== config.trustedClientCertHeader || !peerTrusted) {
        evidence.untrustedForwarded = true;
        continue;
      }
      evidence.channel = true;
      const forwarded = resolveForwardedCertificate(name, Array.isArray(value) ? value.join(',') : value, forwardedOptions);
      if ('rejection' in forwarded) {
        evidence.rejection = forwarded.rejection;
        continue;
      }
      const fc = forwarded.certificate;
      // Two different certificates for one request: believe neither.
      if (evidence.certificate?.kind === 'certificate' && (fc.kind !== 'certificate' || thumbprintS256(fc.leaf) !== thumbprintS256(evidence.certificate.leaf))) {
        evidence.rejection = 'conflicting_certificates';
        continue;
      }
      evidence.certificate = fc;
    }
    if (config.trustedClientCertHeader && peerTrusted) evidence.channel = true;
    return evidence;
  };
}
