import { isIP } from 'node:net';

export type SubjectAltNames = { dns: string[]; uri: string[]; ip: string[]; email: string[] };

/**
 * Node's X509Certificate#subjectAltName: "DNS:a, URI:spiffe://…, IP Address:10.0.0.1, email:x@y";
 * a value with special characters is JSON-quoted ("URI:\"https://x/a, b\""), so split outside quotes.
 */
export function parseSubjectAltNames(text: string | undefined): SubjectAltNames {
  const result: SubjectAltNames = { dns: [], uri: [], ip: [], email: [] };
  if (!text) return result;
  const entries: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"' && text[i - 1] !== '\\') quoted = !quoted;
    if (!quoted && ch === ',' && text[i + 1] === ' ') {
      entries.push(current);
      current = '';
      i++;
      continue;
    }
    current += ch;
  }
  if (current) entries.push(current);
  for (const entry of entries) {
    const colon = entry.indexOf(':');
    const kind = entry.slice(0, colon);
    let value = entry.slice(colon + 1);
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch { /* keep as is */ }
    }
    if (kind === 'DNS') result.dns.push(value);
    else if (kind === 'URI') result.uri.push(value);
    else if (kind === 'IP Address') result.ip.push(value);
    else if (kind === 'email') result.email.push(value);
  }
  return result;
}

/** IP addresses compare by value: "::1" and "0:0:0:0:0:0:0:1" are the same address. */
export function sameIp(a: string, b: string): boolean {
  const expand = (ip: string) => {
    if (isIP(ip) === 4) return ip.split('.').map(Number).join('.');
    if (isIP(ip) !== 6) return undefined;
    const [head, tail] = ip.toLowerCase().split('::');
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    return groups.map((g) => parseInt(g, 16).toString(16)).join(':');
  };
  const ea = expand(a);
  return ea !== undefined && ea === expand(b);
}
