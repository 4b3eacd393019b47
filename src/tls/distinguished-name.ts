/**
 * RFC 4514 distinguished names, compared as RFC 5280 §7.1 / RFC 4517 distinguishedNameMatch would:
 * the same RDNs in the same order, attribute types case-insensitive (short names or OIDs), values
 * compared after unescaping, with insignificant spaces removed and case folded (caseIgnoreMatch).
 * RFC 8705 §2.1.2 asks for this, not string equality.
 */
export type Rdn = ReadonlyArray<{ type: string; value: string }>;

const TYPE_ALIASES: Record<string, string> = {
  '2.5.4.3': 'cn', commonname: 'cn',
  '2.5.4.10': 'o', organizationname: 'o',
  '2.5.4.11': 'ou', organizationalunitname: 'ou',
  '2.5.4.6': 'c', countryname: 'c',
  '2.5.4.7': 'l', localityname: 'l',
  '2.5.4.8': 'st', stateorprovincename: 'st', s: 'st',
  '2.5.4.9': 'street',
  '0.9.2342.19200300.100.1.25': 'dc', domaincomponent: 'dc',
  '0.9.2342.19200300.100.1.1': 'uid', userid: 'uid',
  '1.2.840.113549.1.9.1': 'emailaddress', email: 'emailaddress', e: 'emailaddress',
  '2.5.4.5': 'serialnumber',
};

function normalizeType(type: string): string {
  const t = type.trim().toLowerCase().replace(/^oid\./, '');
  return TYPE_ALIASES[t] ?? t;
}

/** caseIgnoreMatch with insignificant-space handling (RFC 4518 §2.6.1, simplified to ASCII space). */
function normalizeValue(value: string): string {
  return value.normalize('NFKC').trim().replace(/ +/g, ' ').toLowerCase();
}

/** Splits on `separator` characters that are not escaped with a backslash. */
function splitUnescaped(text: string, separators: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && i + 1 < text.length) {
      current += ch + text[i + 1];
      i++;
    } else if (separators.includes(ch)) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts;
}

/** RFC 4514 §3 escapes: `\,` and friends, and `\XX` hex pairs (UTF-8 bytes). */
function unescapeValue(raw: string): string {
  const bytes: number[] = [];
  const text = raw.trim();
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (ch === '\\' && i + 1 < text.length) {
      bytes.push(...Buffer.from(text[i + 1]!, 'utf8'));
      i++;
    } else bytes.push(...Buffer.from(ch, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Parses an RFC 4514 string ("CN=orders,O=shop": most specific RDN first); undefined if malformed. */
export function parseRfc4514(dn: string): Rdn[] | undefined {
  if (dn.trim() === '') return [];
  const rdns: Rdn[] = [];
  for (const rdnText of splitUnescaped(dn, ',;')) {
    const attributes = [];
    for (const atv of splitUnescaped(rdnText, '+')) {
      const eq = atv.indexOf('=');
      if (eq <= 0) return undefined;
      attributes.push({ type: normalizeType(atv.slice(0, eq)), value: normalizeValue(unescapeValue(atv.slice(eq + 1))) });
    }
    rdns.push(attributes);
  }
  return rdns;
}

/**
 * Node's X509Certificate#subject: one RDN per line, in certificate order (least specific first),
 * with RFC 4514 escapes inside values ("CN=orders\\, O=x" is one attribute).
 */
export function parseNodeSubject(subject: string): Rdn[] {
  return subject.split('\n').filter(Boolean).map((line) => splitUnescaped(line, '+').map((atv) => {
    const eq = atv.indexOf('=');
    return { type: normalizeType(atv.slice(0, eq)), value: normalizeValue(unescapeValue(atv.slice(eq + 1))) };
  })).reverse();
}

function sameRdn(a: Rdn, b: Rdn): boolean {
  if (a.length !== b.length) return false;
  const key = (x: { type: string; value: string }) => `${x.type}=${x.value}`;
  const bs = new Set(b.map(key));
  return a.every((x) => bs.has(key(x)));
}

export function sameDistinguishedName(a: Rdn[], b: Rdn[]): boolean {
  return a.length === b.length && a.every((rdn, i) => sameRdn(rdn, b[i]!));
}
