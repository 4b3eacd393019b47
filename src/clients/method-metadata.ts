import { createPublicKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { JSONWebKeySet, JWK } from 'jose';
import { isNonPublicHost } from '../shared/non-public-address.ts';
import { parseRfc4514 } from '../tls/distinguished-name.ts';
import type { FieldIssue } from '../shared/errors.ts';
import type { TlsClientAuthSubject } from './client.ts';

/** Asymmetric JWS algorithms a client may sign assertions with; never none or HMAC (RFC 8725 §3.1). */
export const ASSERTION_SIGNING_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;

export const TLS_SUBJECT_FIELDS = {
  tls_client_auth_subject_dn: 'subjectDn',
  tls_client_auth_san_dns: 'sanDns',
  tls_client_auth_san_uri: 'sanUri',
  tls_client_auth_san_ip: 'sanIp',
  tls_client_auth_san_email: 'sanEmail',
} as const satisfies Record<string, keyof TlsClientAuthSubject>;

export type TlsSubjectField = keyof typeof TLS_SUBJECT_FIELDS;

/** The key- and certificate-related metadata of a client, in RFC 7591 names, after a merge. */
export type MethodMetadata = {
  token_endpoint_auth_method: string;
  jwks?: unknown;
  jwks_uri?: unknown;
  token_endpoint_auth_signing_alg?: unknown;
} & Partial<Record<TlsSubjectField, unknown>>;

/** Which metadata each method needs (exactly one of `oneOf`) and may have. */
const METHOD_FIELDS: Record<string, { oneOf: string[]; allowed: string[] }> = {
  client_secret_basic: { oneOf: [], allowed: [] },
  client_secret_post: { oneOf: [], allowed: [] },
  private_key_jwt: { oneOf: ['jwks', 'jwks_uri'], allowed: ['jwks', 'jwks_uri', 'token_endpoint_auth_signing_alg'] },
  tls_client_auth: { oneOf: Object.keys(TLS_SUBJECT_FIELDS), allowed: Object.keys(TLS_SUBJECT_FIELDS) },
  self_signed_tls_client_auth: { oneOf: ['jwks', 'jwks_uri'], allowed: ['jwks', 'jwks_uri'] },
  // Its credential (federated_credential) is checked by client-service.ts with the issuer rules.
  federated_jwt: { oneOf: [], allowed: [] },
};

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'];

/** What is wrong with one registered JWK (private or symmetric, weak, unreadable), or undefined. */
export function jwkProblem(jwk: unknown, index: number, allowCertificateOnly: boolean): string | undefined {
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) return `key ${index} is not a JWK object`;
  const key = jwk as JWK & { x5c?: unknown };
  const privateMember = PRIVATE_MEMBERS.find((m) => m in key);
  if (privateMember) return `key ${index} holds the private member "${privateMember}": register public keys only`;
  if (key.kty === 'oct') return `key ${index} is symmetric (kty oct): only asymmetric keys may be registered`;
  if (!['RSA', 'EC', 'OKP'].includes(String(key.kty))) return `key ${index} has an unsupported kty`;
  if (key.alg !== undefined && !(ASSERTION_SIGNING_ALGS as readonly string[]).includes(String(key.alg))) return `key ${index} has alg ${String(key.alg)}, not an allowed asymmetric algorithm`;
  let certificate: X509Certificate | undefined;
  if (key.x5c !== undefined) {
    if (!Array.isArray(key.x5c) || !key.x5c.every((c) => typeof c === 'string')) return `key ${index} has a malformed x5c`;
    try {
      certificate = new X509Certificate(Buffer.from(key.x5c[0] as string, 'base64'));
    } catch {
      return `key ${index} has an x5c certificate that cannot be read`;
    }
    if (allowCertificateOnly && key.n === undefined && key.x === undefined) return undefined;
  }
  try {
    const publicKey = createPublicKey({ key: key as never, format: 'jwk' });
    if (publicKey.asymmetricKeyType === 'rsa' && (publicKey.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) return `key ${index} is an RSA key under 2048 bits`;
    // RFC 7517 §4.7: the x5c certificate's key MUST match the JWK's; else two keys would authenticate the client.
    if (certificate && !certificate.publicKey.equals(publicKey)) return `key ${index} has an x5c certificate for a different key`;
  } catch {
    return `key ${index} is not a valid public JWK`;
  }
  return undefined;
}

/** RFC 8725 §3.10 / ASVS 13.2.4: a jwks_uri must not turn the service into an SSRF probe. */
export function jwksUriProblem(value: unknown, allowInsecure: boolean): string | undefined {
  if (typeof value !== 'string' || value.length > 2048) return 'must be a URL of at most 2048 characters';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.username || url.password || url.hash) return 'must not carry credentials or a fragment';
  if (url.protocol !== 'https:' && !(allowInsecure && url.protocol === 'http:')) return 'must use https';
  // Names are resolved, and their addresses checked again, when the document is fetched (remote-jwks.ts).
  if (!allowInsecure && isNonPublicHost(url.hostname)) return 'must not point at a loopback, private or link-local address';
  return undefined;
}

function tlsFieldProblem(field: TlsSubjectField, value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '' || value.length > 1024 || /[\u0000-\u001f]/.test(value)) return 'must be a non-empty string without control characters';
  switch (field) {
    case 'tls_client_auth_subject_dn': return parseRfc4514(value)?.length ? undefined : 'must be an RFC 4514 distinguished name';
    case 'tls_client_auth_san_ip': return isIP(value) ? undefined : 'must be an IP address';
    case 'tls_client_auth_san_uri': return URL.canParse(value) ? undefined : 'must be an absolute URI';
    case 'tls_client_auth_san_email': return /^[^@\s]+@[^@\s]+$/.test(value) ? undefined : 'must be an email address';
    case 'tls_client_auth_san_dns': return /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(value) ? undefined : 'must be a DNS name';
  }
}

/**
 * Checks the method-specific metadata of a (merged) registration: required fields present (exactly
 * one subject field for tls_client_auth, RFC 8705 §2.1.2), fields of other methods absent, keys
 * public and asymmetric, jwks_uri safe to fetch. Returns every problem, each naming its field.
 */
export function methodMetadataIssues(m: MethodMetadata, opts: { allowInsecureJwksUri: boolean }): FieldIssue[] {
  const rules = METHOD_FIELDS[m.token_endpoint_auth_method];
  if (!rules) return [{ name: 'token_endpoint_auth_method', reason: 'is not supported' }];
  const record = m as Record<string, unknown>;
  const present = Object.keys(record).filter((k) => k !== 'token_endpoint_auth_method' && record[k] !== undefined && record[k] !== null);
  const issues: FieldIssue[] = present.filter((k) => !rules.allowed.includes(k))
    .map((name) => ({ name, reason: `is not used by token_endpoint_auth_method ${m.token_endpoint_auth_method}` }));
  const chosen = rules.oneOf.filter((k) => present.includes(k));
  if (rules.oneOf.length && chosen.length !== 1) {
    issues.push({ name: rules.oneOf.join(' | '), reason: `${m.token_endpoint_auth_method} needs exactly one of these` });
  }
  if (present.includes('jwks') && rules.allowed.includes('jwks')) {
    const jwks = record.jwks as JSONWebKeySet | undefined;
    if (!jwks || typeof jwks !== 'object' || !Array.isArray(jwks.keys) || jwks.keys.length === 0 || jwks.keys.length > 10) {
      issues.push({ name: 'jwks', reason: 'must be a JWK Set with 1 to 10 keys' });
    } else {
      jwks.keys.forEach((key, i) => {
        const problem = jwkProblem(key, i, m.token_endpoint_auth_method === 'self_signed_tls_client_auth');
        if (problem) issues.push({ name: 'jwks', reason: problem });
      });
    }
  }
  if (present.includes('jwks_uri') && rules.allowed.includes('jwks_uri')) {
    const problem = jwksUriProblem(record.jwks_uri, opts.allowInsecureJwksUri);
    if (problem) issues.push({ name: 'jwks_uri', reason: problem });
  }
  if (present.includes('token_endpoint_auth_signing_alg') && !(ASSERTION_SIGNING_ALGS as readonly unknown[]).includes(record.token_endpoint_auth_signing_alg)) {
    issues.push({ name: 'token_endpoint_auth_signing_alg', reason: `must be one of ${ASSERTION_SIGNING_ALGS.join(', ')}` });
  }
  for (const field of Object.keys(TLS_SUBJECT_FIELDS) as TlsSubjectField[]) {
    if (!present.includes(field) || !rules.allowed.includes(field)) continue;
    const problem = tlsFieldProblem(field, record[field]);
    if (problem) issues.push({ name: field, reason: problem });
  }
  return issues;
}
