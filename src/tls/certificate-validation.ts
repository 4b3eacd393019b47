import type { X509Certificate } from 'node:crypto';

/** Why a certificate chain was refused: audit reasons, never shown to the caller. */
export type CertificateRejection = 'cert_expired' | 'cert_not_yet_valid' | 'cert_untrusted' | 'cert_weak_key' | 'cert_not_for_client_auth';

const CLIENT_AUTH_EKU = '1.3.6.1.5.5.7.3.2';
const ANY_EKU = '2.5.29.37.0';
const MAX_CHAIN = 5;

function validityProblem(cert: X509Certificate, now: Date): CertificateRejection | undefined {
  if (new Date(cert.validFrom) > now) return 'cert_not_yet_valid';
  if (new Date(cert.validTo) < now) return 'cert_expired';
  return undefined;
}

function weakKey(cert: X509Certificate): boolean {
  const details = cert.publicKey.asymmetricKeyDetails;
  return cert.publicKey.asymmetricKeyType === 'rsa' && (details?.modulusLength ?? 0) < 2048;
}

/** The leaf's own checks, shared by CA-issued and self-signed certificates. */
export function checkLeaf(leaf: X509Certificate, now: Date): CertificateRejection | undefined {
  const invalid = validityProblem(leaf, now);
  if (invalid) return invalid;
  if (weakKey(leaf)) return 'cert_weak_key';
  // RFC 5280 §4.2.1.12: when the extension is present, it must allow client authentication.
  const eku = leaf.keyUsage;
  if (eku && eku.length && !eku.includes(CLIENT_AUTH_EKU) && !eku.includes(ANY_EKU)) return 'cert_not_for_client_auth';
  return undefined;
}

/**
 * RFC 5280 path validation, reduced to what client authentication needs: each certificate is
 * issued and signed by the next (intermediates as presented), every one is within its validity
 * period, and the path ends at one of the configured trust anchors (TLS_CLIENT_CA_FILE).
 */
export function validateChain(leaf: X509Certificate, intermediates: X509Certificate[], anchors: readonly X509Certificate[], now: Date): CertificateRejection | undefined {
  const own = checkLeaf(leaf, now);
  if (own) return own;
  let current = leaf;
  const pool = [...intermediates];
  for (let depth = 0; depth <= MAX_CHAIN; depth++) {
    const anchor = anchors.find((a) => current.checkIssued(a) && current.verify(a.publicKey));
    if (anchor) return validityProblem(anchor, now) ? 'cert_untrusted' : undefined;
    const next = pool.findIndex((c) => c.ca && current.checkIssued(c) && current.verify(c.publicKey));
    if (next < 0) return 'cert_untrusted';
    current = pool.splice(next, 1)[0]!;
    if (validityProblem(current, now)) return 'cert_untrusted';
  }
  return 'cert_untrusted';
}
