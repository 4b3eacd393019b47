import { createHash, X509Certificate } from 'node:crypto';
import type { SubjectAltNames } from './subject-alt-names.ts';

/**
 * A client certificate as the token endpoint sees it, whichever way it arrived: on our own TLS
 * listener, or forwarded by a trusted proxy (with the certificate itself, or only the identity
 * the proxy verified, Istio's default).
 */
export type PresentedCertificate =
  | { kind: 'certificate'; source: 'tls' | 'forwarded'; leaf: X509Certificate; intermediates: X509Certificate[] }
  | { kind: 'verified-identity'; source: 'forwarded'; subject: string | undefined; sans: SubjectAltNames; x5tS256: string };

/** RFC 8705 §3.1: base64url SHA-256 of the DER certificate, the cnf claim's x5t#S256. */
export function thumbprintS256(cert: X509Certificate): string {
  return createHash('sha256').update(cert.raw).digest('base64url');
}

export function certificateThumbprint(presented: PresentedCertificate): string {
  return presented.kind === 'certificate' ? thumbprintS256(presented.leaf) : presented.x5tS256;
}
