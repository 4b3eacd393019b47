import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { GeneralName, GeneralSubtree } from '@peculiar/asn1-x509';
import { comparableName, nameWithin, type ComparableName, type ParsedCertificate } from './parsed-certificate.ts';

/**
 * RFC 5280 §4.2.1.10 and §6.1.3 (b)(c): the names of a certificate against the name constraints of the
 * CA certificates above it. Each constraining CA adds one permitted set (the path's permitted subtrees
 * are their intersection: a name must fall within every set that constrains its type) and its excluded
 * subtrees (their union: a name within any of them is refused).
 */

type NameForm = 'dns' | 'email' | 'uri' | 'ip' | 'directory' | 'other';

/** One name of the certificate, in the form its constraints compare. */
type CertName = { form: NameForm; value: string; directory?: ComparableName };

export type NameConstraintState = { permitted: GeneralSubtree[][]; excluded: GeneralSubtree[] };

export type NameConstraintVerdict = 'cert_name_not_permitted' | 'cert_name_excluded' | undefined;

function formOf(name: GeneralName): NameForm {
  if (name.dNSName !== undefined) return 'dns';
  if (name.rfc822Name !== undefined) return 'email';
  if (name.uniformResourceIdentifier !== undefined) return 'uri';
  if (name.iPAddress !== undefined) return 'ip';
  if (name.directoryName !== undefined) return 'directory';
  return 'other';
}

function namesOf(cert: ParsedCertificate): CertName[] {
  const names: CertName[] = [];
  // The subject applies as a directoryName when it is not empty.
  if (cert.subject.length) names.push({ form: 'directory', value: '', directory: cert.subject });
  for (const email of cert.emailAddresses) names.push({ form: 'email', value: email });
  for (const alt of cert.altNames) {
    const form = formOf(alt);
    if (form === 'directory') names.push({ form, value: '', directory: comparableName(alt.directoryName!) });
    else names.push({ form, value: alt.dNSName ?? alt.rfc822Name ?? alt.uniformResourceIdentifier ?? alt.iPAddress ?? '' });
  }
  return names;
}

/** `host` is `domain` or, when the constraint asks for it, below it (a leading "." means only below). */
function hostWithin(host: string, constraint: string, subdomainsOfBareName: boolean): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  const c = constraint.toLowerCase();
  if (c === '') return true;
  if (c.startsWith('.')) return h.endsWith(c);
  return h === c || (subdomainsOfBareName && h.endsWith(`.${c}`));
}

/** The host of a URI (RFC 3986 §3.2.2): without userinfo and port; undefined without an authority. */
function uriHost(uri: string): string | undefined {
  const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(uri)?.[1];
  if (authority === undefined) return undefined;
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  const host = hostPort.startsWith('[') ? hostPort.slice(0, hostPort.indexOf(']') + 1) : hostPort.replace(/:\d*$/, '');
  return host === '' ? undefined : host;
}

function ipWithin(address: string, subnet: string): boolean {
  const [network, prefix] = subnet.split('/');
  const bits = Number(prefix);
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (!family || !network || !Number.isInteger(bits) || (family === 'ipv4' ? !isIPv4(network) : !isIPv6(network))) return false;
  const list = new BlockList();
  list.addSubnet(network, bits, family);
  return list.check(address, family);
}

/** Whether `name` lies within `subtree`; undefined when the subtree is not of the name's form. */
function within(name: CertName, subtree: GeneralSubtree): boolean | undefined {
  const base = subtree.base;
  if (formOf(base) !== name.form) return undefined;
  switch (name.form) {
    case 'dns':
      return hostWithin(name.value, base.dNSName!, true);
    case 'email': {
      const c = base.rfc822Name!;
      const at = name.value.lastIndexOf('@');
      if (c.includes('@')) return name.value.slice(0, at) === c.slice(0, c.lastIndexOf('@')) && name.value.slice(at + 1).toLowerCase() === c.slice(c.lastIndexOf('@') + 1).toLowerCase();
      return at > 0 && hostWithin(name.value.slice(at + 1), c, false);
    }
    case 'uri': {
      const host = uriHost(name.value);
      return host !== undefined && hostWithin(host, base.uniformResourceIdentifier!, false);
    }
    case 'ip':
      return ipWithin(name.value, base.iPAddress!);
    case 'directory':
      return nameWithin(name.directory!, comparableName(base.directoryName!));
    default:
      // otherName, x400Address, ediPartyName, registeredID: a form this validator cannot compare.
      // Fail closed, as OpenSSL does (X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE).
      return false;
  }
}

/** §4.2.1.10: minimum MUST be zero and maximum MUST be absent; anything else is refused. */
function wellFormed(subtree: GeneralSubtree): boolean {
  return (subtree.minimum ?? 0) === 0 && subtree.maximum === undefined;
}

/** Checks `cert`'s names against the constraints accumulated from the CA certificates above it. */
export function checkNameConstraints(cert: ParsedCertificate, state: NameConstraintState): NameConstraintVerdict {
  if (!state.permitted.length && !state.excluded.length) return undefined;
  for (const name of namesOf(cert)) {
    for (const set of state.permitted) {
      const relevant = set.filter((s) => formOf(s.base) === name.form);
      if (relevant.length && !relevant.some((s) => wellFormed(s) && within(name, s))) return 'cert_name_not_permitted';
    }
    for (const subtree of state.excluded) {
      const match = within(name, subtree);
      if (match === undefined) continue;
      // A form it cannot compare, or a malformed subtree, counts as excluded: fail closed.
      if (match || !wellFormed(subtree) || name.form === 'other') return 'cert_name_excluded';
    }
  }
  return undefined;
}

/** §6.1.4 (g): the state for the certificates below a CA certificate that carries name constraints. */
export function addNameConstraints(state: NameConstraintState, cert: ParsedCertificate): NameConstraintState {
  const nc = cert.nameConstraints;
  if (!nc) return state;
  return {
    permitted: nc.permittedSubtrees?.length ? [...state.permitted, [...nc.permittedSubtrees]] : state.permitted,
    excluded: nc.excludedSubtrees?.length ? [...state.excluded, ...nc.excludedSubtrees] : state.excluded,
  };
}
