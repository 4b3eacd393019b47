import { createPublicKey, X509Certificate } from 'node:crypto';
import type { Client } from '../../clients/client.ts';
import type { Clock } from '../../shared/clock.ts';
import { certificateThumbprint, type PresentedCertificate } from '../../tls/client-certificate.ts';
import { checkLeaf, createChainValidator } from '../../tls/certificate-validation.ts';
import { parseNodeSubject, parseRfc4514, sameDistinguishedName } from '../../tls/distinguished-name.ts';
import { parseSubjectAltNames, sameIp, type SubjectAltNames } from '../../tls/subject-alt-names.ts';
import { InvalidClient, type DenialReason } from '../errors.ts';
import type { CertificateEvidence } from '../token-request.ts';
import type { ClientAuthMethod, ClientCredentialsRecord, VerifiedCredentials } from './client-auth-method.ts';
import type { RemoteJwksCache } from './remote-jwks.ts';

function fail(reason: string): InvalidClient {
  return new InvalidClient(reason as DenialReason);
}

/** The certificate of the request, or the reason there is none to check. */
function presentedCertificate(e: CertificateEvidence): PresentedCertificate {
  if (e.rejection) throw fail(e.rejection);
  if (e.certificate) return e.certificate;
  throw fail(e.untrustedForwarded ? 'untrusted_forwarded_cert' : 'certificate_missing');
}

function identityOf(cert: PresentedCertificate): { subject: ReturnType<typeof parseNodeSubject> | undefined; sans: SubjectAltNames } {
  if (cert.kind === 'certificate') return { subject: parseNodeSubject(cert.leaf.subject), sans: parseSubjectAltNames(cert.leaf.subjectAltName) };
  return { subject: cert.subject === undefined ? undefined : parseRfc4514(cert.subject), sans: cert.sans };
}

/** RFC 8705 §2.1.2: the one registered subject field must match the certificate exactly. */
function matchesRegistration(client: Client, cert: PresentedCertificate): boolean {
  const { subjectDn, sanDns, sanUri, sanIp, sanEmail } = client.tlsClientAuth;
  const { subject, sans } = identityOf(cert);
  if (subjectDn !== null) {
    const registered = parseRfc4514(subjectDn);
    return !!registered && !!subject && sameDistinguishedName(registered, subject);
  }
  if (sanUri !== null) {
    // SPIFFE X509-SVID: exactly one URI SAN, the SPIFFE ID; anything else is not that workload.
    if (sanUri.startsWith('spiffe://') && sans.uri.length !== 1) return false;
    return sans.uri.includes(sanUri);
  }
  if (sanDns !== null) return sans.dns.some((d) => d.toLowerCase() === sanDns.toLowerCase());
  if (sanIp !== null) return sans.ip.some((ip) => sameIp(ip, sanIp));
  if (sanEmail !== null) return sans.email.some((e) => e.toLowerCase() === sanEmail.toLowerCase());
  return false;
}

function bound(cert: PresentedCertificate): VerifiedCredentials {
  const thumbprint = certificateThumbprint(cert);
  return { cnf: { 'x5t#S256': thumbprint }, auditDetails: { 'x5t#S256': thumbprint } };
}

export type CertificateMethodDeps = { clock: Clock; trustAnchors: readonly X509Certificate[]; remoteJwks: RemoteJwksCache };

/** The part both RFC 8705 methods share; `check` is what makes the certificate this client's. */
function certificateMethod(name: string, check: (cert: PresentedCertificate, record: ClientCredentialsRecord) => Promise<void>): ClientAuthMethod {
  return {
    name,
    mechanism: 'certificate',
    async verify(_req, credentials, record) {
      const cert = presentedCertificate((credentials as { evidence: CertificateEvidence }).evidence);
      if (!record) throw fail('unknown_client');
      await check(cert, record);
      return bound(cert);
    },
  };
}

/** RFC 8705 §2.1: a certificate from the configured CA whose subject the client registered. */
export function createTlsClientAuth(deps: CertificateMethodDeps): ClientAuthMethod {
  const chains = createChainValidator(deps.trustAnchors);
  return certificateMethod('tls_client_auth', async (cert, record) => {
    // A proxy-verified identity (no Cert) was validated by the proxy; only a certificate is ours to judge.
    if (cert.kind === 'certificate') {
      const rejection = chains.validate(cert.leaf, cert.intermediates, deps.clock.now());
      if (rejection) throw new InvalidClient(rejection);
    }
    if (!matchesRegistration(record.client, cert)) throw fail('cert_subject_mismatch');
  });
}

function spki(key: ReturnType<typeof createPublicKey>): string {
  return key.export({ type: 'spki', format: 'der' }).toString('base64');
}

/** RFC 8705 §2.2: a (self-signed) certificate whose key, or the certificate itself, the client registered. */
export function createSelfSignedTlsClientAuth(deps: CertificateMethodDeps): ClientAuthMethod {
  async function registeredKeys(record: ClientCredentialsRecord) {
    const { jwks, jwksUri } = record.client;
    return jwks?.keys ?? (jwksUri ? (await deps.remoteJwks.get(jwksUri).catch(() => ({ keys: [] }))).keys : []);
  }
  return certificateMethod('self_signed_tls_client_auth', async (cert, record) => {
    if (cert.kind !== 'certificate') throw fail('certificate_missing');
    const rejection = checkLeaf(cert.leaf, deps.clock.now());
    if (rejection) throw new InvalidClient(rejection);
    const presentedKey = spki(cert.leaf.publicKey);
    const raw = cert.leaf.raw.toString('base64');
    const match = (await registeredKeys(record)).some((jwk) => {
      const x5c = (jwk as { x5c?: unknown }).x5c;
      if (Array.isArray(x5c) && x5c[0] === raw) return true;
      try {
        return (jwk.n !== undefined || jwk.x !== undefined) && spki(createPublicKey({ key: jwk as never, format: 'jwk' })) === presentedKey;
      } catch {
        return false;
      }
    });
    if (!match) throw fail('cert_not_registered');
  });
}
