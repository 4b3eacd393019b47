import { createHash, X509Certificate } from 'node:crypto';
import type { PresentedCertificate } from './client-certificate.ts';
import { parseSubjectAltNames } from './subject-alt-names.ts';

export type ForwardedHeaderKind = 'x-forwarded-client-cert' | 'client-cert';

export type ForwardedResult = { certificate: PresentedCertificate } | { rejection: 'forwarded_cert_malformed' | 'forwarded_hash_mismatch' | 'forwarded_identity_not_trusted' };

const MAX_HEADER_LENGTH = 16_384;

/** Splits on `separator` outside double quotes; quoted sections keep their backslash escapes. */
function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted && ch === '\\' && i + 1 < text.length) {
      current += ch + text[i + 1];
      i++;
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

/**
 * Envoy quotes a value without escaping inside it: a backslash there is the RFC 4514 escape of the
 * Subject it copied ("CN=orders\,O=shop" is one CN). Removing it would turn that CN into two RDNs.
 */
function unquote(value: string): string {
  const v = value.trim();
  return v.startsWith('"') && v.endsWith('"') && v.length >= 2 ? v.slice(1, -1) : v;
}

/**
 * Envoy's x-forwarded-client-cert: comma-separated elements, each `Key=Value` pairs separated by
 * semicolons, values optionally quoted (a Subject may hold commas and semicolons). Keys repeat
 * (URI, DNS), so each maps to a list.
 */
export function parseXfcc(header: string): Array<Map<string, string[]>> {
  return splitOutsideQuotes(header, ',').map((element) => {
    const pairs = new Map<string, string[]>();
    for (const pair of splitOutsideQuotes(element, ';')) {
      if (pair.trim() === '') continue;
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new Error('pair without "="');
      const key = pair.slice(0, eq).trim().toLowerCase();
      pairs.set(key, [...(pairs.get(key) ?? []), unquote(pair.slice(eq + 1))]);
    }
    return pairs;
  });
}

function pemCertificates(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
}

/**
 * The certificate a trusted proxy forwarded. Only the last XFCC element counts: Envoy appends the
 * element for the connection it terminated, and anything before it came from further away (a client
 * can send its own element: envoyproxy/envoy#6038). A forwarded Cert is validated like one on our own
 * listener by the caller; an element without Cert (Istio's default) is believed only when configured.
 */
export function resolveForwardedCertificate(kind: ForwardedHeaderKind, header: string, trustVerifiedIdentity: boolean): ForwardedResult {
  if (header.length > MAX_HEADER_LENGTH) return { rejection: 'forwarded_cert_malformed' };
  try {
    if (kind === 'client-cert') {
      // RFC 9440 §2.1: an sf-binary item, `:base64(DER):`.
      const match = /^:([A-Za-z0-9+/]+={0,2}):$/.exec(header.trim());
      if (!match) return { rejection: 'forwarded_cert_malformed' };
      return { certificate: { kind: 'certificate', source: 'forwarded', leaf: new X509Certificate(Buffer.from(match[1]!, 'base64')), intermediates: [] } };
    }
    const element = parseXfcc(header).at(-1)!;
    const hash = element.get('hash')?.[0];
    const certText = element.get('cert')?.[0];
    if (certText !== undefined) {
      const [leaf, ...rest] = pemCertificates(decodeURIComponent(certText));
      if (!leaf) return { rejection: 'forwarded_cert_malformed' };
      if (hash !== undefined && hash.toLowerCase() !== createHash('sha256').update(leaf.raw).digest('hex')) return { rejection: 'forwarded_hash_mismatch' };
      const chain = element.get('chain')?.[0];
      const intermediates = [...rest, ...(chain ? pemCertificates(decodeURIComponent(chain)).slice(1) : [])];
      return { certificate: { kind: 'certificate', source: 'forwarded', leaf, intermediates } };
    }
    if (!trustVerifiedIdentity) return { rejection: 'forwarded_identity_not_trusted' };
    if (!hash || !/^[0-9a-fA-F]{64}$/.test(hash)) return { rejection: 'forwarded_cert_malformed' };
    const sans = parseSubjectAltNames(undefined);
    sans.uri.push(...(element.get('uri') ?? []));
    sans.dns.push(...(element.get('dns') ?? []));
    return {
      certificate: {
        kind: 'verified-identity',
        source: 'forwarded',
        subject: element.get('subject')?.[0],
        sans,
        x5tS256: Buffer.from(hash, 'hex').toString('base64url'),
      },
    };
  } catch {
    return { rejection: 'forwarded_cert_malformed' };
  }
}
