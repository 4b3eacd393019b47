import { parseSubjectAltNames } from '../../src/tls/subject-alt-names.ts';
import assert from 'node:assert/strict';
import https from 'node:https';
import { decodeJwt } from 'jose';
import type { IssuedCertificate, Pki } from './pki.ts';
import { BOOTSTRAP_SECRET, startTestService, type TestService } from './start-app.ts';

/**
 * Client certificates sent to the token endpoint the two ways RFC 8705 allows here: on the service's
 * own TLS listener (a real handshake with node:https), or forwarded by a proxy (this test process) in
 * Envoy's x-forwarded-client-cert or RFC 9440 Client-Cert; and the two answers the contract has for
 * them, the rejection R with its audit reason and the success OK bound to the certificate.
 */

export const SPIFFE_GATEWAY = 'spiffe://cluster.local/ns/istio-system/sa/ingressgateway';
const DESCRIPTION_CHARS = /^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/;
export const GRANT = { grant_type: 'client_credentials' };

/** Only what the assertions read, so node:https and supertest answers look alike. */
export type Reply = { status: number; headers: Record<string, string | string[] | undefined>; body: Record<string, unknown>; text: string };

/** A request over a fresh TLS connection (no agent, no session reuse) presenting `client`, if any; `ca` is the server's CA. */
export function tlsRequest(
  url: string,
  options: {
    ca: string;
    method?: string;
    client?: IssuedCertificate;
    chain?: IssuedCertificate[];
    headers?: Record<string, string>;
    body?: string;
    /** Let this client present SHA-1 signed certificates, which OpenSSL refuses to load at its default security level. */
    allowWeakCertificates?: boolean;
  },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, {
      method: options.method ?? 'GET',
      ca: options.ca,
      agent: false,
      headers: options.headers,
      ...(options.allowWeakCertificates && { ciphers: 'DEFAULT:@SECLEVEL=0' }),
      ...(options.client && {
        cert: [options.client, ...(options.chain ?? [])].map((c) => c.certPem).join(''),
        key: options.client.keyPem,
      }),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch { /* not JSON */ }
        resolve({ status: res.statusCode!, headers: res.headers, body, text });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** POST /token over TLS, presenting `client` (and `extra.chain` after it). */
export function tlsToken(
  t: TestService,
  ca: string,
  client: IssuedCertificate | undefined,
  fields: Record<string, string>,
  extra: { headers?: Record<string, string>; chain?: IssuedCertificate[]; allowWeakCertificates?: boolean } = {},
) {
  return tlsRequest(`${t.url}/token`, {
    ca,
    method: 'POST',
    ...(client && { client }),
    ...(extra.chain && { chain: extra.chain }),
    ...(extra.allowWeakCertificates && { allowWeakCertificates: true }),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...extra.headers },
    body: new URLSearchParams({ ...GRANT, ...fields }).toString(),
  });
}

/** A plain-HTTP token request from this process, with the given certificate headers. */
export async function proxiedToken(t: TestService, headers: Record<string, string>, fields: Record<string, string>): Promise<Reply> {
  const req = t.agent.post('/token').type('form');
  for (const [name, value] of Object.entries(headers)) req.set(name, value);
  return await req.send({ ...GRANT, ...fields });
}

/**
 * One XFCC element as Envoy writes it: By, Hash (hex SHA-256 of the DER), the URL-encoded PEM as a
 * quoted Cert, a quoted Chain, a quoted Subject, then URI and DNS unquoted, in that order.
 */
export function xfcc(cert: IssuedCertificate | undefined, fields: { hash?: string; uri?: string[]; dns?: string[]; subject?: string; by?: string; chain?: IssuedCertificate[] } = {}): string {
  const parts = [`By=${fields.by ?? SPIFFE_GATEWAY}`];
  const hash = fields.hash ?? cert?.sha256Hex;
  if (hash !== undefined) parts.push(`Hash=${hash}`);
  if (cert) parts.push(`Cert="${encodeURIComponent(cert.certPem)}"`);
  if (fields.chain) parts.push(`Chain="${encodeURIComponent(fields.chain.map((c) => c.certPem).join(''))}"`);
  if (fields.subject !== undefined) parts.push(`Subject="${fields.subject}"`);
  for (const uri of fields.uri ?? []) parts.push(`URI=${uri}`);
  for (const dns of fields.dns ?? []) parts.push(`DNS=${dns}`);
  return parts.join(';');
}

/** The subject as Envoy writes it (OpenSSL's RFC 2253 form: most specific RDN first). */
export const rfc2253Subject = (cert: IssuedCertificate) => cert.x509.subject.split('\n').reverse().join(',');

/** What Envoy writes for `cert` with Cert, Subject and URI configured: its URI SANs copied unquoted, as they are. */
export const envoyElement = (cert: IssuedCertificate) =>
  xfcc(cert, { subject: rfc2253Subject(cert), uri: parseSubjectAltNames(cert.x509.subjectAltName).uri });

/** RFC 9440 §2: Client-Cert is an sf-binary item, the DER in base64 between colons. */
export const clientCertHeader = (cert: IssuedCertificate) => `:${cert.der.toString('base64')}:`;

export async function eventsOf(t: TestService, res: Reply, type: 'token.issued' | 'token.denied') {
  const requestId = res.headers['x-request-id'];
  assert.ok(requestId, 'every response names its request id');
  return (await t.auditEvents({ type })).filter((e) => e.requestId === requestId);
}

/** The rejection contract R with exactly one token.denied carrying `reason`. */
export async function expectRejected(t: TestService, res: Reply, expected: { status?: 400 | 401; error?: string; reason: string; clientId?: string }) {
  const status = expected.status ?? 401;
  assert.equal(res.status, status, res.text);
  assert.match(String(res.headers['content-type'] ?? ''), /^application\/json(;|$)/);
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.equal(res.body.error, expected.error ?? (status === 401 ? 'invalid_client' : 'invalid_request'));
  assert.deepEqual(Object.keys(res.body).filter((k) => k !== 'error' && k !== 'error_description'), []);
  if (res.body.error_description !== undefined) assert.match(String(res.body.error_description), DESCRIPTION_CHARS);
  assert.doesNotMatch(res.text, /access_token|eyJ|\bat \S+:\d+|node_modules/);
  // No Basic credentials were sent, so no Basic challenge (RFC 6749 §5.2).
  assert.equal(res.headers['www-authenticate'], undefined);
  const denied = await eventsOf(t, res, 'token.denied');
  assert.equal(denied.length, 1, 'exactly one token.denied per refusal');
  assert.equal(denied[0]!.reason, expected.reason);
  if (expected.clientId !== undefined) assert.equal(denied[0]!.clientId, expected.clientId);
  assert.equal((await eventsOf(t, res, 'token.issued')).length, 0);
}

/** The success contract OK, bound to `x5t` (RFC 8705 §3.1) in the token and in the audit record. */
export async function expectBound(t: TestService, res: Reply, clientId: string, method: string, x5t: string) {
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(Object.keys(res.body).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
  assert.equal(res.body.token_type, 'Bearer');
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.equal(res.headers.pragma, 'no-cache');
  const claims = decodeJwt(String(res.body.access_token));
  assert.equal(claims.client_id, clientId);
  assert.deepEqual(claims.cnf, { 'x5t#S256': x5t });
  const issued = await eventsOf(t, res, 'token.issued');
  assert.equal(issued.length, 1);
  assert.equal(issued[0]!.clientId, clientId);
  assert.equal(issued[0]!.authMethod, method);
  assert.equal(issued[0]!.details?.['x5t#S256'], x5t);
  return claims;
}

export function mtlsClient(clientId: string, field: Record<string, string>) {
  return { client_id: clientId, token_endpoint_auth_method: 'tls_client_auth', ...field };
}

/** A service on its own TLS listener, and its admin API reached over that listener with the bootstrap admin's token. */
export type TlsService = { t: TestService; admin(method: string, path: string, body?: unknown): Promise<Reply> };

/**
 * The service with a TLS listener (the PKI's server certificate, CA1 as the client trust anchor) on
 * which this process is also the trusted XFCC proxy. The shared supertest agent does not trust CA1,
 * so the admin API is called over the listener too.
 */
export async function startTlsService(pki: Pki): Promise<TlsService> {
  const t = await startTestService((port) => ({
    ISSUER: `https://127.0.0.1:${port}`,
    TLS_CERT_FILE: pki.server.certFile,
    TLS_KEY_FILE: pki.server.keyFile,
    TLS_CLIENT_CA_FILE: pki.ca1.certFile,
    TRUSTED_CLIENT_CERT_PROXIES: '127.0.0.1',
    TRUSTED_CLIENT_CERT_HEADER: 'x-forwarded-client-cert',
    RATE_LIMIT_AUTH_FAILURES: '0',
  }));
  const basic = Buffer.from(`${encodeURIComponent(t.config.bootstrapAdmin.clientId)}:${encodeURIComponent(BOOTSTRAP_SECRET)}`).toString('base64');
  const issued = await tlsToken(t, pki.ca1.certPem, undefined, {}, { headers: { authorization: `Basic ${basic}` } });
  assert.equal(issued.status, 200, issued.text);
  const adminToken = String(issued.body.access_token);
  const url = t.url;
  return {
    t,
    admin: (method, path, body) => tlsRequest(`${url}${path}`, {
      ca: pki.ca1.certPem,
      method,
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    }),
  };
}
