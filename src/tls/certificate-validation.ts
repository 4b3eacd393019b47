import type { X509Certificate } from 'node:crypto';
import { KeyUsageFlags } from '@peculiar/asn1-x509';
import { addNameConstraints, checkNameConstraints, type NameConstraintState } from './name-constraints.ts';
import { MalformedCertificate, parseCertificate, sameName, type ParsedCertificate } from './parsed-certificate.ts';

/**
 * RFC 5280 §6.1 certificate path validation for tls_client_auth (RFC 8705 §2.1), and the leaf checks
 * both RFC 8705 methods share.
 *
 * Why here and not OpenSSL: a chain reaches us either on our own TLS listener or in a trusted proxy's
 * header (XFCC Cert/Chain, RFC 9440 Client-Cert), and both must get the same verdict. Node exposes
 * OpenSSL's verdict only for its own handshake (socket.authorized; a forwarded chain cannot be handed
 * to X509_verify_cert without a native addon), and even there it reports a single untyped error
 * (often just "UNSPECIFIED" under TLS 1.3). So one validator judges both ways in, on the chain exactly
 * as the client sent it. Node's OpenSSL still verifies every signature (X509Certificate.verify);
 * @peculiar/asn1-x509 parses the extensions Node does not expose. pkijs's
 * CertificateChainValidationEngine was considered and not used: up to 4.0.0 it never reads
 * pathLenConstraint and accepts a permitted subtree when any one name of a form matches it.
 *
 * What §6.1 asks and where it happens:
 * - (a)(1) signatures: path building (issuedBy) accepts an issuer only if its key verifies the
 *   signature; signatures with MD5/SHA-1 hashes are refused (cert_weak_signature).
 * - (a)(2) validity: the leaf (cert_expired, cert_not_yet_valid), each CA certificate
 *   (cert_issuer_expired, cert_issuer_not_yet_valid), the trust anchor (cert_untrusted).
 * - (a)(3) revocation: not checked; no CRL or OCSP source is configured (as OpenSSL without CRL flags).
 * - (a)(4) name chaining: path building (RFC 5280 §7.1 comparison).
 * - (b)(c)(g) name constraints, including those of the anchor certificate (RFC 5937):
 *   cert_name_not_permitted, cert_name_excluded.
 * - (d)-(f), (h)-(j) policies: the service asks for no policy (initial-policy-set anyPolicy,
 *   initial-explicit-policy false), so the valid_policy_tree matters only when a CA requires an
 *   explicit policy; explicit_policy is tracked and a path that ends up requiring one is refused
 *   (cert_policy_unsupported) instead of building the tree. Mapping to or from anyPolicy is malformed.
 * - (k) CA certificates: basicConstraints cA TRUE (cert_issuer_not_ca).
 * - (l)(m) pathLenConstraint, the anchor's included (cert_path_too_long).
 * - (n) keyUsage keyCertSign when keyUsage is present (cert_issuer_not_for_cert_signing).
 * - (o), 6.1.5 (f) critical extensions not processed here (cert_unknown_critical_extension).
 * On top, RFC 8705's needs: a leaf that is not a CA (cert_is_ca), RSA keys of at least 2048 bits
 * (cert_weak_key), clientAuth in extendedKeyUsage and digitalSignature or keyAgreement in keyUsage
 * when present (cert_not_for_client_auth). A chain that reaches no trust anchor is cert_untrusted
 * whatever else is wrong with it, so nothing is said about certificates nobody vouches for.
 */

/** Why a certificate chain was refused: audit reasons, never shown to the caller. */
export type CertificateRejection =
  | 'cert_malformed'
  | 'cert_expired'
  | 'cert_not_yet_valid'
  | 'cert_untrusted'
  | 'cert_weak_key'
  | 'cert_weak_signature'
  | 'cert_not_for_client_auth'
  | 'cert_is_ca'
  | 'cert_unknown_critical_extension'
  | 'cert_issuer_not_ca'
  | 'cert_issuer_not_for_cert_signing'
  | 'cert_issuer_expired'
  | 'cert_issuer_not_yet_valid'
  | 'cert_path_too_long'
  | 'cert_name_not_permitted'
  | 'cert_name_excluded'
  | 'cert_policy_unsupported';

const CLIENT_AUTH_EKU = '1.3.6.1.5.5.7.3.2';
const ANY_EKU = '2.5.29.37.0';
/** CA certificates a client may send; more is refused before any signature is checked. */
const MAX_INTERMEDIATES = 5;
/** Candidate paths judged per request when name-alike CAs make several possible. */
const MAX_PATHS = 8;

function validityProblem(cert: X509Certificate, now: Date): 'expired' | 'not_yet_valid' | undefined {
  if (new Date(cert.validFrom) > now) return 'not_yet_valid';
  if (new Date(cert.validTo) < now) return 'expired';
  return undefined;
}

function weakKey(cert: X509Certificate): boolean {
  const details = cert.publicKey.asymmetricKeyDetails;
  return cert.publicKey.asymmetricKeyType === 'rsa' && (details?.modulusLength ?? 0) < 2048;
}

function parse(cert: X509Certificate): ParsedCertificate | 'cert_malformed' {
  try {
    return parseCertificate(cert);
  } catch (error) {
    if (error instanceof MalformedCertificate) return 'cert_malformed';
    throw error;
  }
}

/** The leaf's own checks; `asIssued` adds those that only a CA-issued client certificate must pass. */
function leafProblem(leaf: ParsedCertificate, now: Date, asIssued: boolean): CertificateRejection | undefined {
  const invalid = validityProblem(leaf.x509, now);
  if (invalid) return invalid === 'expired' ? 'cert_expired' : 'cert_not_yet_valid';
  if (weakKey(leaf.x509)) return 'cert_weak_key';
  if (leaf.unrecognizedCritical.length) return 'cert_unknown_critical_extension';
  // RFC 5280 §4.2.1.9: a CA certificate vouches for keys; it is not itself a client. (A self-signed
  // client certificate often carries CA:TRUE from `openssl req -x509`; its key is what counts there.)
  if (asIssued && leaf.basicConstraints?.ca) return 'cert_is_ca';
  // RFC 5280 §4.2.1.12: when the extension is present, it must allow client authentication.
  const eku = leaf.extKeyUsage;
  if (eku && !eku.includes(CLIENT_AUTH_EKU) && !eku.includes(ANY_EKU)) return 'cert_not_for_client_auth';
  // §4.2.1.3: the key signs the TLS handshake (CertificateVerify), as OpenSSL's sslclient purpose asks.
  const ku = leaf.keyUsage;
  if (ku !== undefined && !(ku & (KeyUsageFlags.digitalSignature | KeyUsageFlags.keyAgreement))) return 'cert_not_for_client_auth';
  return undefined;
}

/** The leaf checks for self_signed_tls_client_auth (RFC 8705 §2.2), where no chain is validated. */
export function checkLeaf(leaf: X509Certificate, now: Date): CertificateRejection | undefined {
  const parsed = parse(leaf);
  return parsed === 'cert_malformed' ? parsed : leafProblem(parsed, now, false);
}

/** §6.1.3 and §6.1.4 along one path, from the certificate the anchor issued down to the leaf. */
function judgePath(path: readonly ParsedCertificate[], anchor: ParsedCertificate, now: Date): CertificateRejection | undefined {
  if (validityProblem(anchor.x509, now)) return 'cert_untrusted';
  const n = path.length;
  let maxPathLength = anchor.basicConstraints?.pathLen ?? n;
  let explicitPolicy = n + 1;
  let names: NameConstraintState = addNameConstraints({ permitted: [], excluded: [] }, anchor);
  for (let i = 0; i < n; i++) {
    const cert = path[i]!;
    const isLeaf = i === n - 1;
    if (!cert.strongSignature) return 'cert_weak_signature';
    if (!isLeaf) {
      const invalid = validityProblem(cert.x509, now);
      if (invalid) return invalid === 'expired' ? 'cert_issuer_expired' : 'cert_issuer_not_yet_valid';
      if (weakKey(cert.x509)) return 'cert_weak_key';
    }
    if (!cert.selfIssued || isLeaf) {
      const violation = checkNameConstraints(cert, names);
      if (violation) return violation;
    }
    if (isLeaf) {
      // §6.1.5 (a)(b).
      if (explicitPolicy > 0) explicitPolicy--;
      if (cert.requireExplicitPolicy === 0) explicitPolicy = 0;
      break;
    }
    names = addNameConstraints(names, cert);
    if (!cert.selfIssued && explicitPolicy > 0) explicitPolicy--;
    if (cert.requireExplicitPolicy !== undefined && cert.requireExplicitPolicy < explicitPolicy) explicitPolicy = cert.requireExplicitPolicy;
    if (!cert.basicConstraints?.ca) return 'cert_issuer_not_ca';
    if (!cert.selfIssued) {
      if (maxPathLength <= 0) return 'cert_path_too_long';
      maxPathLength--;
    }
    const pathLen = cert.basicConstraints.pathLen;
    if (pathLen !== undefined && pathLen < maxPathLength) maxPathLength = pathLen;
    if (cert.keyUsage !== undefined && !(cert.keyUsage & KeyUsageFlags.keyCertSign)) return 'cert_issuer_not_for_cert_signing';
    if (cert.unrecognizedCritical.length) return 'cert_unknown_critical_extension';
  }
  return explicitPolicy === 0 ? 'cert_policy_unsupported' : undefined;
}

export type ChainValidator = {
  /** RFC 5280 §6.1 for `leaf` and the CA certificates the client sent with it, in any order. */
  validate(leaf: X509Certificate, intermediates: readonly X509Certificate[], now: Date): CertificateRejection | undefined;
};

/** Parses the trust anchors (TLS_CLIENT_CA_FILE) once, at start-up; per request only what was presented. */
export function createChainValidator(trustAnchors: readonly X509Certificate[]): ChainValidator {
  const anchors = trustAnchors.map((a) => parseCertificate(a));
  const anchorDer = new Set(anchors.map((a) => a.x509.raw.toString('base64')));

  return {
    validate(leafCert, intermediateCerts, now) {
      if (intermediateCerts.length > MAX_INTERMEDIATES) return 'cert_untrusted';
      const leaf = parse(leafCert);
      if (leaf === 'cert_malformed') return leaf;
      const own = leafProblem(leaf, now, true);
      if (own) return own;
      // A copy of an anchor or of the leaf among the intermediates adds nothing to a path.
      const seen = new Set([...anchorDer, leafCert.raw.toString('base64')]);
      const pool: ParsedCertificate[] = [];
      for (const cert of intermediateCerts) {
        const der = cert.raw.toString('base64');
        if (seen.has(der)) continue;
        seen.add(der);
        const parsed = parse(cert);
        if (parsed === 'cert_malformed') return parsed;
        pool.push(parsed);
      }

      // Each signature is checked at most once per request, however many paths try it.
      const verified = new Map<ParsedCertificate, Map<ParsedCertificate, boolean>>();
      function issuedBy(child: ParsedCertificate, issuer: ParsedCertificate): boolean {
        if (!sameName(child.issuer, issuer.subject)) return false;
        let byIssuer = verified.get(child);
        if (!byIssuer) verified.set(child, (byIssuer = new Map()));
        let ok = byIssuer.get(issuer);
        if (ok === undefined) {
          try {
            ok = child.x509.verify(issuer.x509.publicKey);
          } catch {
            ok = false;
          }
          byIssuer.set(issuer, ok);
        }
        return ok;
      }

      /** Paths from `current` up to an anchor (anchors first), as [current, …, anchor]. */
      function* pathsFrom(current: ParsedCertificate, used: Set<ParsedCertificate>): Generator<ParsedCertificate[]> {
        for (const anchor of anchors) if (issuedBy(current, anchor)) yield [current, anchor];
        for (const next of pool) {
          if (used.has(next) || !issuedBy(current, next)) continue;
          used.add(next);
          for (const rest of pathsFrom(next, used)) yield [current, ...rest];
          used.delete(next);
        }
      }

      let first: CertificateRejection | undefined;
      let judged = 0;
      for (const path of pathsFrom(leaf, new Set())) {
        const anchor = path.pop()!;
        const verdict = judgePath(path.reverse(), anchor, now);
        if (verdict === undefined) return undefined;
        first ??= verdict;
        if (++judged >= MAX_PATHS) break;
      }
      return first ?? 'cert_untrusted';
    },
  };
}
