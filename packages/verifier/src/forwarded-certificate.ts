import { createHash, X509Certificate } from 'node:crypto';

export type ForwardedCertificateHeader = 'x-forwarded-client-cert' | 'client-cert';

/** The thumbprint a proxy's header states, or why the header cannot be believed. */
export type ForwardedThumbprint = { thumbprint: string } | { rejection: string };

const MAX_HEADER_LENGTH = 16_384;
/**
 * The order in which Envoy writes an element's keys (By, Hash, Cert, Chain, Subject, URI, DNS).
 * URI and DNS come last and unquoted, and they are the only values a certificate's owner chooses:
 * a key after them, or a second Hash, was written by a SAN, not by the proxy.
 */
const ENVOY_KEY_ORDER = ['by', 'hash', 'cert', 'chain', 'subject', 'uri', 'dns'];
const QUOTED_KEYS = new Set(['cert', 'chain', 'subject']);
const REPEATABLE_KEYS = new Set(['by', 'uri', 'dns']);
const UNQUOTED_VALUE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x7e]*$/;

type Pair = { key: string; value: string; quoted: boolean };

/** Splits on `separator` outside double quotes. */
function split(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted && ch === '\\' && i + 1 < text.length) {
      current += ch + text[++i];
      continue;
    }
    if (ch === '"') quoted = !quoted;
    if (!quoted && ch === separator) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  if (quoted) throw new Error('unterminated quote');
  parts.push(current);
  return parts;
}

function parseElement(text: string): Pair[] {
  return split(text, ';').filter((p) => p.trim() !== '').map((p) => {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new Error('pair without "="');
    const raw = p.slice(eq + 1);
    const quoted = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"');
    return { key: p.slice(0, eq).trimStart().toLowerCase(), value: quoted ? raw.slice(1, -1) : raw, quoted };
  });
}

/** True when the element could have been written by Envoy as one element (see ENVOY_KEY_ORDER). */
function hasEnvoyShape(element: Pair[]): boolean {
  let rank = 0;
  const seen = new Set<string>();
  for (const { key, value, quoted } of element) {
    const keyRank = ENVOY_KEY_ORDER.indexOf(key);
    if (keyRank < rank) return false;
    rank = keyRank;
    if (seen.has(key) && !REPEATABLE_KEYS.has(key)) return false;
    seen.add(key);
    if (QUOTED_KEYS.has(key) !== quoted) return false;
    if (!quoted && !UNQUOTED_VALUE.test(value)) return false;
  }
  return true;
}

const sha256 = (der: Buffer) => createHash('sha256').update(der).digest();

/** The URI SANs of a certificate; Node quotes a value holding `,` or `"` as a JSON string. */
function uriSans(certificate: X509Certificate): string[] {
  const uris: string[] = [];
  for (const [, kind, value] of (certificate.subjectAltName ?? '').matchAll(/([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g)) {
    if (kind === 'URI') uris.push(value!.startsWith('"') ? JSON.parse(value!) as string : value!);
  }
  return uris;
}

/**
 * An element's URI values must be its Cert's URI SANs (Envoy writes every one, older versions the
 * first): a SAN cut short by a "," leaves a URI its certificate does not hold, and the rest of it
 * reads as a further element.
 */
function describesCertificate(element: Pair[], certificate: X509Certificate): boolean {
  const stated = element.filter((p) => p.key === 'uri').map((p) => p.value);
  if (stated.length === 0) return true;
  const held = uriSans(certificate);
  const same = (a: string[], b: string[]) => a.length === b.length && a.every((v, i) => v === b[i]);
  return same(stated, held) || same(stated, held.slice(0, 1)) || (held.length === 0 && same(stated, ['']));
}

/** RFC 8705 §3.1: the element's certificate as x5t#S256; its Cert wins and must agree with its Hash. */
function thumbprintOf(element: Pair[]): ForwardedThumbprint {
  const hash = element.find((p) => p.key === 'hash')?.value;
  const cert = element.find((p) => p.key === 'cert')?.value;
  if (hash !== undefined && !/^[0-9a-fA-F]{64}$/.test(hash)) return { rejection: 'forwarded_cert_malformed' };
  if (cert !== undefined) {
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(decodeURIComponent(cert));
    if (!pem) return { rejection: 'forwarded_cert_malformed' };
    const certificate = new X509Certificate(pem[0]);
    const digest = sha256(certificate.raw);
    if (hash !== undefined && hash.toLowerCase() !== digest.toString('hex')) return { rejection: 'forwarded_hash_mismatch' };
    if (!describesCertificate(element, certificate)) return { rejection: 'forwarded_identity_mismatch' };
    return { thumbprint: digest.toString('base64url') };
  }
  if (hash === undefined) return { rejection: 'forwarded_cert_missing' };
  return { thumbprint: Buffer.from(hash, 'hex').toString('base64url') };
}

/**
 * The certificate thumbprint a trusted proxy forwarded: Envoy/Istio x-forwarded-client-cert (its
 * Cert, or its Hash, the hex SHA-256 of the DER) or RFC 9440 Client-Cert (`:base64(DER):`). With
 * `elements: 'one'` (Envoy SANITIZE_SET, the default) the header must hold exactly one element; with
 * `'last'` (APPEND_FORWARD) earlier elements came from further away and only the last one counts.
 * Every element must have the shape Envoy writes, so a SAN carrying `;Hash=…` cannot forge one.
 */
export function forwardedThumbprint(kind: ForwardedCertificateHeader, header: string, elements: 'one' | 'last'): ForwardedThumbprint {
  if (header.length > MAX_HEADER_LENGTH) return { rejection: 'forwarded_cert_malformed' };
  try {
    if (kind === 'client-cert') {
      const match = /^:([A-Za-z0-9+/]+={0,2}):$/.exec(header.trim());
      if (!match) return { rejection: 'forwarded_cert_malformed' };
      return { thumbprint: sha256(new X509Certificate(Buffer.from(match[1]!, 'base64')).raw).toString('base64url') };
    }
    const parsed = split(header, ',').map(parseElement);
    if (parsed.length > 1 && elements === 'one') return { rejection: 'forwarded_cert_too_many_elements' };
    if (!parsed.every(hasEnvoyShape)) return { rejection: 'forwarded_cert_injection' };
    // Earlier elements do not count, but each must stand on its own (see describesCertificate).
    for (const earlier of parsed.slice(0, -1)) {
      const checked = earlier.some((p) => p.key === 'cert') ? thumbprintOf(earlier) : undefined;
      if (checked && 'rejection' in checked) return checked;
    }
    return thumbprintOf(parsed.at(-1)!);
  } catch {
    return { rejection: 'forwarded_cert_malformed' };
  }
}
