import { createHash, X509Certificate } from 'node:crypto';
import type { PresentedCertificate } from './client-certificate.ts';
import { parseNodeSubject, parseRfc4514, sameDistinguishedName } from './distinguished-name.ts';
import { parseSubjectAltNames } from './subject-alt-names.ts';
import { hasEnvoyShape, parseXfcc, valuesOf, type XfccElement } from './xfcc-element.ts';

export type ForwardedHeaderKind = 'x-forwarded-client-cert' | 'client-cert';

export type ForwardedRejection =
  | 'forwarded_cert_malformed'
  | 'forwarded_cert_too_many_elements'
  | 'forwarded_cert_injection'
  | 'forwarded_identity_mismatch'
  | 'forwarded_hash_mismatch'
  | 'forwarded_identity_not_trusted';

export type ForwardedResult = { certificate: PresentedCertificate } | { rejection: ForwardedRejection };

export type ForwardedCertificateOptions = {
  /** Believe an XFCC element without Cert (TRUST_PROXY_VERIFIED_IDENTITY). */
  trustVerifiedIdentity: boolean;
  /** XFCC: exactly one element (Envoy SANITIZE_SET), or the last of several (APPEND_FORWARD). */
  elements: 'one' | 'last';
};

const MAX_HEADER_LENGTH = 16_384;

function pemCertificates(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * What the element says about the certificate must be what the certificate says: an element
 * assembled from a SAN's text (`…;URI=<another id>`) names identities its Cert does not hold.
 * Envoy writes every URI SAN (older versions only the first), `URI=` when there is none, every DNS SAN,
 * and the Subject in RFC 2253 form; keys it was not configured to send are absent.
 */
function describesCertificate(element: XfccElement, leaf: X509Certificate, chain: X509Certificate[]): boolean {
  const sans = parseSubjectAltNames(leaf.subjectAltName);
  const uris = valuesOf(element, 'uri');
  if (uris.length && !(sameList(uris, sans.uri) || sameList(uris, [sans.uri[0] ?? '']))) return false;
  const dns = valuesOf(element, 'dns');
  if (dns.length && !sameList(dns, sans.dns)) return false;
  const [subject] = valuesOf(element, 'subject');
  if (subject !== undefined) {
    const stated = parseRfc4514(subject);
    if (!stated || !sameDistinguishedName(stated, parseNodeSubject(leaf.subject))) return false;
  }
  // Envoy's Chain starts with the peer certificate itself.
  return chain.length === 0 || chain[0]!.raw.equals(leaf.raw);
}

function fromCertElement(element: XfccElement, certText: string): ForwardedResult {
  const [leaf, ...rest] = pemCertificates(decodeURIComponent(certText));
  if (!leaf) return { rejection: 'forwarded_cert_malformed' };
  const [hash] = valuesOf(element, 'hash');
  if (hash !== undefined && hash.toLowerCase() !== createHash('sha256').update(leaf.raw).digest('hex')) return { rejection: 'forwarded_hash_mismatch' };
  const [chainText] = valuesOf(element, 'chain');
  const chain = chainText ? pemCertificates(decodeURIComponent(chainText)) : [];
  if (!describesCertificate(element, leaf, chain)) return { rejection: 'forwarded_identity_mismatch' };
  return { certificate: { kind: 'certificate', source: 'forwarded', leaf, intermediates: [...rest, ...chain.slice(1)] } };
}

/** Istio's default element: no Cert, only what the proxy verified (Hash, Subject, URI, DNS). */
function fromVerifiedIdentity(element: XfccElement): ForwardedResult {
  const [hash] = valuesOf(element, 'hash');
  if (!hash || !/^[0-9a-fA-F]{64}$/.test(hash)) return { rejection: 'forwarded_cert_malformed' };
  const sans = parseSubjectAltNames(undefined);
  // Envoy writes `URI=` for a certificate without URI SANs: that is no URI, not an empty one.
  sans.uri.push(...valuesOf(element, 'uri').filter(Boolean));
  sans.dns.push(...valuesOf(element, 'dns').filter(Boolean));
  return {
    certificate: {
      kind: 'verified-identity',
      source: 'forwarded',
      subject: valuesOf(element, 'subject')[0],
      sans,
      x5tS256: Buffer.from(hash, 'hex').toString('base64url'),
    },
  };
}

/**
 * The element a trusted proxy wrote for the connection it terminated. By default the header must
 * hold exactly one (Envoy SANITIZE_SET replaces whatever the client sent); with `last`, earlier
 * elements came from further away (APPEND_FORWARD keeps the client's own: envoyproxy/envoy#6038)
 * and only the last counts. Either way the element must have the shape Envoy writes and agree with
 * its Cert, so a SAN carrying `,Cert=…` or `;URI=…` cannot forge it.
 */
function resolveXfcc(header: string, options: ForwardedCertificateOptions): ForwardedResult {
  const elements = parseXfcc(header);
  if (elements.length > 1 && options.elements === 'one') return { rejection: 'forwarded_cert_too_many_elements' };
  // A SAN cut short by its "," ("…/sa/evil,Cert=…") leaves the proxy's own element one before the
  // last: so every element must stand on its own, though only the last one counts.
  for (const earlier of elements.slice(0, -1)) {
    if (!hasEnvoyShape(earlier)) return { rejection: 'forwarded_cert_injection' };
    const [certText] = valuesOf(earlier, 'cert');
    const checked = certText === undefined ? undefined : fromCertElement(earlier, certText);
    if (checked && 'rejection' in checked) return checked;
  }
  const element = elements.at(-1)!;
  if (!hasEnvoyShape(element)) return { rejection: 'forwarded_cert_injection' };
  const [certText] = valuesOf(element, 'cert');
  if (certText !== undefined) return fromCertElement(element, certText);
  if (!options.trustVerifiedIdentity) return { rejection: 'forwarded_identity_not_trusted' };
  return fromVerifiedIdentity(element);
}

/**
 * The certificate a trusted proxy forwarded. A forwarded Cert is validated like one on our own
 * listener by the caller; an element without Cert (Istio's default) is believed only when configured.
 */
export function resolveForwardedCertificate(kind: ForwardedHeaderKind, header: string, options: ForwardedCertificateOptions): ForwardedResult {
  if (header.length > MAX_HEADER_LENGTH) return { rejection: 'forwarded_cert_malformed' };
  try {
    if (kind === 'client-cert') {
      // RFC 9440 §2.1: one sf-binary item, `:base64(DER):`; two header lines are two items, refused.
      const match = /^:([A-Za-z0-9+/]+={0,2}):$/.exec(header.trim());
      if (!match) return { rejection: 'forwarded_cert_malformed' };
      return { certificate: { kind: 'certificate', source: 'forwarded', leaf: new X509Certificate(Buffer.from(match[1]!, 'base64')), intermediates: [] } };
    }
    return resolveXfcc(header, options);
  } catch {
    return { rejection: 'forwarded_cert_malformed' };
  }
}
