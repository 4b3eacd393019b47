import type { X509Certificate } from 'node:crypto';
import { id_RSASSA_PSS, RsaSaPssParams } from '@peculiar/asn1-rsa';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  BasicConstraints,
  Certificate,
  CertificatePolicies,
  ExtendedKeyUsage,
  id_ce_basicConstraints,
  id_ce_certificatePolicies,
  id_ce_certificatePolicies_anyPolicy,
  id_ce_extKeyUsage,
  id_ce_inhibitAnyPolicy,
  id_ce_keyUsage,
  id_ce_nameConstraints,
  id_ce_policyConstraints,
  id_ce_policyMappings,
  id_ce_subjectAltName,
  InhibitAnyPolicy,
  KeyUsage,
  NameConstraints,
  PolicyConstraints,
  PolicyMappings,
  SubjectAlternativeName,
  type GeneralName,
  type Name,
} from '@peculiar/asn1-x509';

/**
 * The parts of an X.509 certificate that RFC 5280 §6.1 path validation reads and that Node's
 * X509Certificate does not expose (pathLenConstraint, keyUsage bits, name constraints, critical flags,
 * the signature algorithm). Parsed with @peculiar/asn1-x509's RFC 5280 ASN.1 schemas; Node's object
 * stays the one that verifies signatures and reads validity and keys (OpenSSL).
 */
export type ParsedCertificate = {
  x509: X509Certificate;
  /** RFC 5280 §7.1 comparable forms of the names, for chaining and directoryName constraints. */
  subject: ComparableName;
  issuer: ComparableName;
  /** §6.1: subject and issuer names are equal (a self-signed or re-keyed CA certificate). */
  selfIssued: boolean;
  /** §4.2.1.9; undefined when the extension is absent (so not a CA). */
  basicConstraints: { ca: boolean; pathLen: number | undefined } | undefined;
  /** §4.2.1.3 KeyUsageFlags bits; undefined when the extension is absent (any use). */
  keyUsage: number | undefined;
  /** §4.2.1.12 key purposes; undefined when the extension is absent. */
  extKeyUsage: readonly string[] | undefined;
  /** §4.2.1.6 subjectAltName entries, and the subject's emailAddress attributes (§4.2.1.10 legacy form). */
  altNames: readonly GeneralName[];
  emailAddresses: readonly string[];
  nameConstraints: NameConstraints | undefined;
  /** §4.2.1.11 requireExplicitPolicy (skip certs), when present. */
  requireExplicitPolicy: number | undefined;
  /** A critical extension this validator does not process (§6.1.4 (o), §6.1.5 (f)). */
  unrecognizedCritical: readonly string[];
  /** The signature is made with a hash that still resists collisions (no MD2/MD4/MD5/SHA-1). */
  strongSignature: boolean;
};

/** A name in a form two equal names share: RDNs in order, attributes sorted, strings case- and space-folded. */
export type ComparableName = readonly string[];

export class MalformedCertificate extends Error {}

/** The extensions path validation processes; a critical extension outside this set fails the path. */
const PROCESSED_EXTENSIONS: ReadonlySet<string> = new Set([
  id_ce_basicConstraints,
  id_ce_keyUsage,
  id_ce_extKeyUsage,
  id_ce_subjectAltName,
  id_ce_nameConstraints,
  id_ce_certificatePolicies,
  id_ce_policyMappings,
  id_ce_policyConstraints,
  id_ce_inhibitAnyPolicy,
]);

/** Signature algorithms whose hash is at least SHA-256 (RSA PKCS#1 v1.5, ECDSA) or needs none (EdDSA). */
const STRONG_SIGNATURES: ReadonlySet<string> = new Set([
  '1.2.840.113549.1.1.11', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12', // sha384WithRSAEncryption
  '1.2.840.113549.1.1.13', // sha512WithRSAEncryption
  '1.2.840.10045.4.3.2', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3', // ecdsa-with-SHA384
  '1.2.840.10045.4.3.4', // ecdsa-with-SHA512
  '1.3.101.112', // Ed25519
  '1.3.101.113', // Ed448
]);
const STRONG_PSS_HASHES: ReadonlySet<string> = new Set(['2.16.840.1.101.3.4.2.1', '2.16.840.1.101.3.4.2.2', '2.16.840.1.101.3.4.2.3']);
const EMAIL_ADDRESS_ATTRIBUTE = '1.2.840.113549.1.9.1';

function strongSignature(algorithm: string, parameters: ArrayBuffer | null | undefined): boolean {
  if (STRONG_SIGNATURES.has(algorithm)) return true;
  // RFC 4055 §3.1: RSASSA-PSS names its hash in the parameters, SHA-1 when they leave it out.
  if (algorithm !== id_RSASSA_PSS || !parameters) return false;
  return STRONG_PSS_HASHES.has(AsnConvert.parse(parameters, RsaSaPssParams).hashAlgorithm.algorithm);
}

/** RFC 5280 §7.1 via RFC 4518, reduced to what OpenSSL's canonical name encoding also folds. */
function foldValue(text: string): string {
  return text.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
}

export function comparableName(name: Name): ComparableName {
  return name.map((rdn) => rdn.map((atv) => {
    const text = atv.value.anyValue ? `#${Buffer.from(atv.value.anyValue).toString('hex')}` : foldValue(atv.value.toString());
    return JSON.stringify([atv.type, text]);
  }).sort().join('+'));
}

export function sameName(a: ComparableName, b: ComparableName): boolean {
  return a.length === b.length && a.every((rdn, i) => rdn === b[i]);
}

/** True when `name` starts with the RDNs of `prefix` (a directoryName subtree, §4.2.1.10). */
export function nameWithin(name: ComparableName, prefix: ComparableName): boolean {
  return prefix.length <= name.length && prefix.every((rdn, i) => rdn === name[i]);
}

function skipCerts(value: ArrayBuffer | undefined): number | undefined {
  if (value === undefined) return undefined;
  const bytes = new Uint8Array(value);
  // A SkipCerts beyond 2^32 means the same as an unbounded one for a path of a few certificates.
  return bytes.length > 4 ? Number.MAX_SAFE_INTEGER : bytes.reduce((n, b) => n * 256 + b, 0);
}

/** Parses `x509` once; anything not DER that RFC 5280 allows is a MalformedCertificate. */
export function parseCertificate(x509: X509Certificate): ParsedCertificate {
  let cert: Certificate;
  try {
    cert = AsnConvert.parse(x509.raw, Certificate);
  } catch (error) {
    throw new MalformedCertificate('not an X.509 certificate', { cause: error });
  }
  const tbs = cert.tbsCertificate;
  // §4.1.1.2: the outer signatureAlgorithm must be the one inside the signed part.
  if (!cert.signatureAlgorithm.isEqual(tbs.signature)) throw new MalformedCertificate('signature algorithm mismatch');

  const parsed: ParsedCertificate = {
    x509,
    subject: comparableName(tbs.subject),
    issuer: comparableName(tbs.issuer),
    selfIssued: false,
    basicConstraints: undefined,
    keyUsage: undefined,
    extKeyUsage: undefined,
    altNames: [],
    emailAddresses: tbs.subject.flatMap((rdn) => rdn.filter((atv) => atv.type === EMAIL_ADDRESS_ATTRIBUTE).map((atv) => atv.value.toString())),
    nameConstraints: undefined,
    requireExplicitPolicy: undefined,
    unrecognizedCritical: [],
    strongSignature: false,
  };
  parsed.selfIssued = sameName(parsed.subject, parsed.issuer);
  try {
    parsed.strongSignature = strongSignature(cert.signatureAlgorithm.algorithm, cert.signatureAlgorithm.parameters);
  } catch (error) {
    throw new MalformedCertificate('unreadable signature parameters', { cause: error });
  }

  const seen = new Set<string>();
  const unrecognized: string[] = [];
  for (const extension of tbs.extensions ?? []) {
    const id = extension.extnID;
    // §4.2: a certificate MUST NOT include more than one instance of a particular extension.
    if (seen.has(id)) throw new MalformedCertificate(`extension ${id} appears twice`);
    seen.add(id);
    if (!PROCESSED_EXTENSIONS.has(id)) {
      if (extension.critical) unrecognized.push(id);
      continue;
    }
    const value = extension.extnValue.buffer;
    try {
      switch (id) {
        case id_ce_basicConstraints: {
          const bc = AsnConvert.parse(value, BasicConstraints);
          parsed.basicConstraints = { ca: bc.cA, pathLen: bc.cA ? bc.pathLenConstraint : undefined };
          break;
        }
        case id_ce_keyUsage:
          parsed.keyUsage = AsnConvert.parse(value, KeyUsage).toNumber();
          break;
        case id_ce_extKeyUsage:
          parsed.extKeyUsage = [...AsnConvert.parse(value, ExtendedKeyUsage)];
          break;
        case id_ce_subjectAltName:
          parsed.altNames = [...AsnConvert.parse(value, SubjectAlternativeName)];
          break;
        case id_ce_nameConstraints:
          parsed.nameConstraints = AsnConvert.parse(value, NameConstraints);
          break;
        case id_ce_policyConstraints:
          parsed.requireExplicitPolicy = skipCerts(AsnConvert.parse(value, PolicyConstraints).requireExplicitPolicy);
          break;
        case id_ce_policyMappings:
          // §6.1.4 (a): mapping to or from anyPolicy is not allowed.
          for (const m of AsnConvert.parse(value, PolicyMappings)) {
            if (m.issuerDomainPolicy === id_ce_certificatePolicies_anyPolicy || m.subjectDomainPolicy === id_ce_certificatePolicies_anyPolicy) throw new MalformedCertificate('policy mapping involves anyPolicy');
          }
          break;
        case id_ce_certificatePolicies:
          AsnConvert.parse(value, CertificatePolicies);
          break;
        case id_ce_inhibitAnyPolicy:
          AsnConvert.parse(value, InhibitAnyPolicy);
          break;
      }
    } catch (error) {
      if (error instanceof MalformedCertificate) throw error;
      throw new MalformedCertificate(`unreadable extension ${id}`, { cause: error });
    }
  }
  parsed.unrecognizedCritical = unrecognized;
  return parsed;
}
