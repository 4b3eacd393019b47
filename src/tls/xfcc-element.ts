/**
 * Envoy's x-forwarded-client-cert header, read as Envoy writes it: comma-separated elements, each
 * `Key=Value` pairs separated by semicolons. Envoy quotes Cert, Chain and Subject; it writes By,
 * Hash, URI and DNS unquoted and without escaping, so a SAN holding `,` or `;` would split the
 * proxy's own element (envoy `ConnectionManagerUtility::mutateXfccRequestHeader`).
 */
export type XfccPair = { key: string; value: string; quoted: boolean };
export type XfccElement = XfccPair[];

/**
 * The order in which Envoy emits the keys of one element: By (once per URI SAN of its own
 * certificate), Hash, then the configured details Cert, Chain, Subject, URI (one per URI SAN), DNS
 * (one per DNS SAN). URI and DNS come last because they are the only values a workload's CA writes
 * unquoted; any key after them was written by whoever chose the SAN.
 */
const ENVOY_KEY_ORDER = ['by', 'hash', 'cert', 'chain', 'subject', 'uri', 'dns'] as const;
export type XfccKey = (typeof ENVOY_KEY_ORDER)[number];
const QUOTED_KEYS: ReadonlySet<string> = new Set(['cert', 'chain', 'subject']);
const REPEATABLE_KEYS: ReadonlySet<string> = new Set(['by', 'uri', 'dns']);
/** An unquoted Envoy value: printable ASCII without the characters that delimit pairs, elements or quotes. */
const UNQUOTED_VALUE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x7e]*$/;

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
function readPair(text: string): XfccPair {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new Error('pair without "="');
  // Nothing is trimmed but the space Node puts after the "," joining two header lines: Envoy writes
  // none, and a SAN's trailing space trimmed away would make "…/sa/admin " read as "…/sa/admin".
  const raw = text.slice(eq + 1);
  const quoted = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"');
  return { key: text.slice(0, eq).trimStart().toLowerCase(), value: quoted ? raw.slice(1, -1) : raw, quoted };
}

/** Every element of the header, pairs in the order written; throws on broken quoting or a pair without "=". */
export function parseXfcc(header: string): XfccElement[] {
  return splitOutsideQuotes(header, ',').map((element) => splitOutsideQuotes(element, ';').filter((pair) => pair.trim() !== '').map(readPair));
}

/**
 * True when the element could have been written by Envoy as one element; false for what only a
 * SAN carrying `,`, `;` or `"` into the proxy's own element produces: an unknown key, keys out of
 * Envoy's order (a Cert or Hash after a URI), a single-valued key twice, a quoted URI/DNS/Hash/By,
 * an unquoted Cert/Chain/Subject, or an unquoted value holding a delimiter.
 */
export function hasEnvoyShape(element: XfccElement): boolean {
  let rank = 0;
  const seen = new Set<string>();
  for (const { key, value, quoted } of element) {
    const keyRank = (ENVOY_KEY_ORDER as readonly string[]).indexOf(key);
    if (keyRank < rank) return false;
    rank = keyRank;
    if (seen.has(key) && !REPEATABLE_KEYS.has(key)) return false;
    seen.add(key);
    if (QUOTED_KEYS.has(key) !== quoted) return false;
    if (!quoted && !UNQUOTED_VALUE.test(value)) return false;
  }
  return true;
}

/** The values of `key` in the element, in order. */
export function valuesOf(element: XfccElement, key: XfccKey): string[] {
  return element.filter((p) => p.key === key).map((p) => p.value);
}
