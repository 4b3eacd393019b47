import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Certificates made at test time with the openssl command line: client CAs, the listener's server
 * certificate, CA-issued and self-signed client certificates. Every certificate goes through
 * `openssl ca`, because OpenSSL 3.0's `x509 -req` cannot set explicit dates (its -not_before and
 * -not_after arrived in 3.4) and expired or not-yet-valid certificates are needed without faking time.
 * Intermediate CAs carry whatever basicConstraints, keyUsage, nameConstraints or extra extensions a
 * path-validation case needs, so every refusal is made by a real, otherwise well-formed chain.
 */

/** A certificate with its key, in every form the tests need. */
export type IssuedCertificate = {
  certPem: string;
  keyPem: string;
  certFile: string;
  keyFile: string;
  der: Buffer;
  x509: X509Certificate;
  /** RFC 8705 §3.1 `x5t#S256`: base64url SHA-256 of the DER. */
  x5tS256: string;
  /** Hex SHA-256 of the DER, as Envoy's XFCC `Hash`. */
  sha256Hex: string;
};

export type CertificateAuthority = IssuedCertificate & { name: string; dir: string };

export type LeafOptions = {
  /** openssl -subj form: `/O=shop/CN=orders` (least specific first; a `,` is a literal comma). */
  subject?: string;
  uris?: string[];
  dns?: string[];
  ips?: string[];
  emails?: string[];
  /** Default: one hour ago. */
  notBefore?: Date;
  /** Default: one day from now. */
  notAfter?: Date;
  /** A fresh RSA key of this size instead of the shared 2048-bit leaf key. */
  keyBits?: number;
  /** Extended key usage; `none` leaves the extension out. Default clientAuth. */
  eku?: 'clientAuth' | 'serverAuth' | 'none';
  /** Leave out the authority key identifier, so only the signature ties the certificate to its issuer. */
  noAuthorityKeyId?: boolean;
  /** The signature's hash (`openssl ca -md`). Default sha256. */
  md?: 'sha1' | 'sha256';
  /** More extension lines in openssl config syntax, e.g. `1.3.6.1.4.1.55555.1 = critical,ASN1:NULL`. */
  extensions?: string[];
};

/** A CA certificate below CA1 (or below `issuer`), with the extensions a path-validation case needs. */
export type IntermediateOptions = Pick<LeafOptions, 'subject' | 'notBefore' | 'notAfter' | 'md' | 'extensions' | 'uris' | 'dns'> & {
  issuer?: CertificateAuthority;
  /** basicConstraints pathLenConstraint. */
  pathLen?: number;
  /** The whole basicConstraints value, or `none` to leave the extension out. Default `critical,CA:TRUE`. */
  basicConstraints?: string;
  /** The whole keyUsage value, or `none`. Default `critical,keyCertSign,cRLSign`. */
  keyUsage?: string;
  /** nameConstraints value, e.g. `critical,permitted;URI:cluster.local`. */
  nameConstraints?: string;
};

export type Pki = {
  dir: string;
  /** The configured client CA (TLS_CLIENT_CA_FILE). */
  ca1: CertificateAuthority;
  /** An unconfigured CA with the very same name as CA1: only its key differs. */
  ca2: CertificateAuthority;
  /** The listener's certificate for 127.0.0.1 and localhost, issued by CA1. */
  server: IssuedCertificate;
  /** A certificate issued by `issuer` (default CA1). */
  issue(options?: LeafOptions & { issuer?: CertificateAuthority }): IssuedCertificate;
  /** A self-signed certificate with its own fresh key. */
  selfSigned(options?: LeafOptions): IssuedCertificate;
  /** A CA certificate with its own fresh key and `openssl ca` database, issued by `issuer` (default CA1). */
  intermediate(options?: IntermediateOptions): CertificateAuthority;
  cleanup(): void;
};

const CA_SUBJECT = '/O=Test PKI/CN=Test Client CA';

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString('utf8') ?? '';
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim()}`);
  }
}

/** YYYYMMDDHHMMSSZ, the GeneralizedTime form `openssl ca -startdate/-enddate` accepts. */
function asn1Time(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

/** Lets `[alt]` values hold characters the config syntax would otherwise interpret. */
function quoteConfigValue(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The [ext] section: a leaf's extensions by default, a CA's when `ca` says how. */
function extensionSection(options: LeafOptions, ca: Omit<IntermediateOptions, 'issuer'> | undefined): string {
  const lines = ['[ext]', 'subjectKeyIdentifier = hash'];
  if (ca) {
    const basic = ca.basicConstraints ?? `critical,CA:TRUE${ca.pathLen === undefined ? '' : `,pathlen:${ca.pathLen}`}`;
    if (basic !== 'none') lines.push(`basicConstraints = ${basic}`);
    const usage = ca.keyUsage ?? 'critical,keyCertSign,cRLSign';
    if (usage !== 'none') lines.push(`keyUsage = ${usage}`);
    if (ca.nameConstraints) lines.push(`nameConstraints = ${ca.nameConstraints}`);
  } else {
    lines.push('basicConstraints = critical,CA:FALSE', 'keyUsage = critical,digitalSignature,keyEncipherment');
    if (options.noAuthorityKeyId) lines.push('authorityKeyIdentifier = none');
    const eku = options.eku ?? 'clientAuth';
    if (eku !== 'none') lines.push(`extendedKeyUsage = ${eku}`);
  }
  lines.push(...(options.extensions ?? []));
  const alt = [
    ...(options.uris ?? []).map((v, i) => `URI.${i} = ${quoteConfigValue(v)}`),
    ...(options.dns ?? []).map((v, i) => `DNS.${i} = ${quoteConfigValue(v)}`),
    ...(options.ips ?? []).map((v, i) => `IP.${i} = ${v}`),
    ...(options.emails ?? []).map((v, i) => `email.${i} = ${quoteConfigValue(v)}`),
  ];
  if (alt.length) lines.push('subjectAltName = @alt', '[alt]', ...alt);
  return lines.join('\n');
}

/** Creates the certificates under a fresh temporary directory; call cleanup() when done. */
export function createPki(): Pki {
  const dir = mkdtempSync(path.join(tmpdir(), 'idb-pki-'));
  let counter = 0;
  const file = (name: string) => path.join(dir, `${++counter}-${name}`);

  function newKey(bits: number): string {
    const keyFile = file('key.pem');
    openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${bits}`, '-out', keyFile]);
    return keyFile;
  }

  function load(certFile: string, keyFile: string): IssuedCertificate {
    const certPem = readFileSync(certFile, 'utf8');
    const x509 = new X509Certificate(certPem);
    return {
      certPem,
      keyPem: readFileSync(keyFile, 'utf8'),
      certFile,
      keyFile,
      der: x509.raw,
      x509,
      x5tS256: createHash('sha256').update(x509.raw).digest('base64url'),
      sha256Hex: createHash('sha256').update(x509.raw).digest('hex'),
    };
  }

  /** A throw-away `openssl ca` database for one CA (or for one self-signed certificate). */
  function caConfig(caDir: string): string {
    mkdirSync(caDir, { recursive: true });
    writeFileSync(path.join(caDir, 'index.txt'), '');
    writeFileSync(path.join(caDir, 'serial'), '01\n');
    const config = path.join(caDir, 'ca.cnf');
    writeFileSync(config, [
      '[ca]', 'default_ca = ca_default',
      '[ca_default]',
      `database = ${path.join(caDir, 'index.txt')}`,
      `new_certs_dir = ${caDir}`,
      `serial = ${path.join(caDir, 'serial')}`,
      'default_md = sha256',
      'policy = policy_any',
      'unique_subject = no',
      'email_in_dn = yes',
      '[policy_any]', 'commonName = optional',
      '[req]', 'distinguished_name = req_dn', 'prompt = no', '[req_dn]', 'CN = unused',
    ].join('\n'));
    return config;
  }

  /** `openssl ca`: a CSR for `keyFile` with `subject`, signed by `signer` (or by its own key), with explicit dates. */
  function sign(keyFile: string, options: LeafOptions, signer: CertificateAuthority | undefined, ca: Omit<IntermediateOptions, 'issuer'> | undefined): string {
    const config = signer ? path.join(signer.dir, 'ca.cnf') : caConfig(file('self'));
    const csr = file('req.csr');
    const ext = file('ext.cnf');
    const out = file('cert.pem');
    openssl(['req', '-new', '-config', config, '-key', keyFile, '-subj', options.subject ?? '/CN=test client', '-out', csr]);
    writeFileSync(ext, extensionSection(options, ca));
    const notBefore = options.notBefore ?? new Date(Date.now() - 3_600_000);
    const notAfter = options.notAfter ?? new Date(Date.now() + 86_400_000);
    openssl([
      'ca', '-batch', '-notext', '-preserveDN', '-rand_serial', '-config', config, '-in', csr, '-out', out,
      '-startdate', asn1Time(notBefore), '-enddate', asn1Time(notAfter), '-extfile', ext, '-extensions', 'ext', '-md', options.md ?? 'sha256',
      ...(signer ? ['-cert', signer.certFile, '-keyfile', signer.keyFile] : ['-selfsign', '-keyfile', keyFile]),
    ]);
    return out;
  }

  /** A CA with its own key and database: self-signed (through a database of its own, so the CA's starts empty) or issued by `issuer`. */
  function makeCa(name: string, options: IntermediateOptions = {}): CertificateAuthority {
    const caDir = path.join(dir, name);
    caConfig(caDir);
    const keyFile = newKey(2048);
    const dated = { notBefore: new Date(Date.now() - 30 * 86_400_000), notAfter: new Date(Date.now() + 10 * 86_400_000), ...options };
    const certFile = sign(keyFile, { subject: CA_SUBJECT, ...dated }, options.issuer, options);
    return { ...load(certFile, keyFile), name, dir: caDir };
  }

  try {
    const ca1 = makeCa('ca1');
    const ca2 = makeCa('ca2');
    const sharedLeafKey = newKey(2048);
    const issue = (options: LeafOptions & { issuer?: CertificateAuthority } = {}) => {
      const keyFile = options.keyBits ? newKey(options.keyBits) : sharedLeafKey;
      return load(sign(keyFile, options, options.issuer ?? ca1, undefined), keyFile);
    };
    const selfSigned = (options: LeafOptions = {}) => {
      const keyFile = newKey(options.keyBits ?? 2048);
      return load(sign(keyFile, options, undefined, undefined), keyFile);
    };
    const intermediate = (options: IntermediateOptions = {}) =>
      makeCa(`ca-${++counter}`, { subject: `/O=Test PKI/CN=Intermediate ${counter}`, ...options, issuer: options.issuer ?? ca1 });
    const server = issue({ subject: '/CN=localhost', keyBits: 2048, dns: ['localhost'], ips: ['127.0.0.1'], eku: 'serverAuth' });
    return { dir, ca1, ca2, server, issue, selfSigned, intermediate, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
