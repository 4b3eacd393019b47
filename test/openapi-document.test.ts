import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import {
  OPENAPI_FILE,
  expectMatchesOpenApi,
  getComponentValidator,
  loadOpenApiDocument,
  resolvePointer,
  validateComponentSchema,
} from './helpers/openapi.ts';

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

type Node = unknown;

function isObject(value: Node): value is Record<string, Node> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function collectRefs(node: Node, at: string, out: Array<{ ref: string; at: string }>): void {
  if (Array.isArray(node)) {
    node.forEach((item, i) => collectRefs(item, `${at}/${i}`, out));
  } else if (isObject(node)) {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') out.push({ ref: value, at });
      else collectRefs(value, `${at}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`, out);
    }
  }
}

function operations(doc: Record<string, Node>): Array<{ method: string; path: string; op: Record<string, Node> }> {
  const out: Array<{ method: string; path: string; op: Record<string, Node> }> = [];
  assert.ok(isObject(doc.paths), 'paths is an object');
  for (const [path, item] of Object.entries(doc.paths)) {
    assert.ok(isObject(item), `path item ${path} is an object`);
    for (const method of HTTP_METHODS) {
      const op = item[method];
      if (op !== undefined) {
        assert.ok(isObject(op), `${method} ${path} is an object`);
        out.push({ method, path, op });
      }
    }
  }
  return out;
}

test('the document parses and is OpenAPI 3.1.x', () => {
  const doc: unknown = parseYaml(readFileSync(OPENAPI_FILE, 'utf8'));
  assert.ok(isObject(doc), 'top level is a mapping');
  assert.match(String(doc.openapi), /^3\.1\.\d+$/);
  assert.ok(isObject(doc.info) && typeof doc.info.title === 'string' && typeof doc.info.version === 'string');
  assert.ok(isObject(doc.paths) && Object.keys(doc.paths).length > 0, 'has paths');
  assert.ok(isObject(doc.components) && isObject(doc.components.schemas), 'has components/schemas');
});

test('every $ref is local and resolves', () => {
  const doc = loadOpenApiDocument();
  const refs: Array<{ ref: string; at: string }> = [];
  collectRefs(doc, '', refs);
  assert.ok(refs.length > 0, 'the document uses $ref');
  const broken = refs.filter(({ ref }) => !ref.startsWith('#/') || resolvePointer(ref) === undefined);
  assert.deepEqual(
    broken.map(({ ref, at }) => `${ref} (at ${at})`),
    [],
    'unresolvable $refs',
  );
});

test('every operation has a unique operationId and at least one response', () => {
  const doc = loadOpenApiDocument();
  const ops = operations(doc);
  assert.ok(ops.length > 0);
  const ids = new Set<string>();
  for (const { method, path, op } of ops) {
    const where = `${method.toUpperCase()} ${path}`;
    assert.equal(typeof op.operationId, 'string', `${where} has an operationId`);
    assert.ok(!ids.has(op.operationId as string), `${where}: operationId ${String(op.operationId)} is unique`);
    ids.add(op.operationId as string);
    assert.ok(isObject(op.responses) && Object.keys(op.responses).length > 0, `${where} has responses`);
  }
});

test('the documented endpoints are all there', () => {
  const doc = loadOpenApiDocument();
  const have = new Set(operations(doc).map(({ method, path }) => `${method.toUpperCase()} ${path}`));
  for (const expected of [
    'POST /token',
    'GET /.well-known/jwks.json',
    'GET /.well-known/oauth-authorization-server',
    'GET /.well-known/openid-configuration',
    'GET /healthz',
    'GET /readyz',
    'GET /metrics',
    'POST /admin/clients',
    'GET /admin/clients',
    'GET /admin/clients/{client_id}',
    'PATCH /admin/clients/{client_id}',
    'DELETE /admin/clients/{client_id}',
    'POST /admin/clients/{client_id}/secret',
    'GET /admin/keys',
    'POST /admin/keys/rotate',
    'POST /admin/keys/{kid}/revoke',
    'GET /admin/audit',
  ]) {
    assert.ok(have.has(expected), `${expected} is documented`);
  }
});

test('Ajv (2020-12) compiles every component schema', () => {
  const doc = loadOpenApiDocument();
  const schemas = (doc.components as Record<string, Node>).schemas as Record<string, Node>;
  const failed: string[] = [];
  for (const name of Object.keys(schemas)) {
    try {
      assert.equal(typeof getComponentValidator(name), 'function');
    } catch (err) {
      failed.push(`${name}: ${(err as Error).message}`);
    }
  }
  assert.deepEqual(failed, []);
});

const token = {
  access_token: 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln',
  token_type: 'Bearer',
  expires_in: 900,
  scope: 'orders:read',
};

const rsaJwk = { kty: 'RSA', kid: 'k1', use: 'sig', alg: 'RS256', n: 'sXch', e: 'AQAB' };

test('self-check: TokenResponse accepts a correct response and rejects refresh_token', () => {
  assert.deepEqual(validateComponentSchema('TokenResponse', token), []);
  const errors = validateComponentSchema('TokenResponse', { ...token, refresh_token: 'r' });
  assert.ok(errors.some((e) => e.includes('refresh_token')), errors.join('\n'));
  assert.notDeepEqual(validateComponentSchema('TokenResponse', { ...token, token_type: 'bearer' }), []);
});

test('self-check: a JWK with private member d never validates', () => {
  assert.deepEqual(validateComponentSchema('JwkSet', { keys: [rsaJwk] }), []);
  const errors = validateComponentSchema('JwkSet', { keys: [{ ...rsaJwk, d: 'secret' }] });
  assert.ok(errors.some((e) => e.includes("'d'")), errors.join('\n'));
  const ec = { kty: 'EC', kid: 'k2', use: 'sig', alg: 'ES256', crv: 'P-256', x: 'AA', y: 'BB' };
  assert.deepEqual(validateComponentSchema('Jwk', ec), []);
  assert.notDeepEqual(validateComponentSchema('Jwk', { ...ec, d: 'secret' }), []);
});

test('self-check: a client secret never validates outside the registration response', () => {
  const client = {
    client_id: 'orders',
    client_name: 'Orders',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    scope: 'orders:read',
    audience: ['https://orders.example'],
    access_token_ttl: null,
    token_quota_per_hour: null,
    token_quota_per_day: 0,
    subject: 'orders',
    jwks: null,
    jwks_uri: null,
    tls_client_auth_subject_dn: null,
    tls_client_auth_san_dns: null,
    tls_client_auth_san_uri: null,
    tls_client_auth_san_ip: null,
    tls_client_auth_san_email: null,
    token_exchange: null,
    introspection: false,
    federated_credential: null,
    disabled: false,
    created_at: '2025-01-01T00:00:00.000Z',
    updated_at: '2025-01-01T00:00:00.000Z',
  };
  const secret = { client_secret: 'x'.repeat(43), client_secret_expires_at: 0 };
  assert.deepEqual(validateComponentSchema('Client', client), []);
  assert.notDeepEqual(validateComponentSchema('Client', { ...client, client_secret: secret.client_secret }), []);
  assert.deepEqual(validateComponentSchema('ClientCreated', { ...client, ...secret }), []);
  assert.notDeepEqual(validateComponentSchema('ClientCreated', client), [], 'secret method without secret');
  const certClient = { ...client, token_endpoint_auth_method: 'tls_client_auth' };
  assert.deepEqual(validateComponentSchema('ClientCreated', certClient), []);
  assert.notDeepEqual(validateComponentSchema('ClientCreated', { ...certClient, ...secret }), []);
});

test('self-check: expectMatchesOpenApi on sample responses', () => {
  const json = { 'content-type': 'application/json; charset=utf-8' };
  const tokenHeaders = { ...json, 'cache-control': 'no-store', pragma: 'no-cache' };
  expectMatchesOpenApi({ status: 200, headers: tokenHeaders, body: token }, 'POST', '/token');
  assert.throws(
    () => expectMatchesOpenApi({ status: 200, headers: tokenHeaders, body: { ...token, refresh_token: 'r' } }, 'POST', '/token'),
    /refresh_token/,
  );
  assert.throws(() => expectMatchesOpenApi({ status: 200, headers: json, body: token }, 'POST', '/token'), /Cache-Control/);
  assert.throws(
    () => expectMatchesOpenApi({ status: 200, headers: { ...tokenHeaders, 'content-type': 'text/html' }, body: token }, 'POST', '/token'),
    /Content-Type text\/html/,
  );
  assert.throws(
    () => expectMatchesOpenApi({ status: 401, headers: json, body: { error: 'invalid_scope' } }, 'POST', '/token'),
    /invalid_client/,
  );
  expectMatchesOpenApi(
    { status: 429, headers: { ...json, 'retry-after': '30' }, body: { error: 'rate_limited', error_description: 'slow down' } },
    'POST',
    '/token',
  );
  assert.throws(() => expectMatchesOpenApi({ status: 418, headers: json, body: {} }, 'POST', '/token'), /418 is not documented/);

  const jwksHeaders = { ...json, etag: '"abc"', 'cache-control': 'public, max-age=900' };
  expectMatchesOpenApi({ status: 200, headers: jwksHeaders, body: { keys: [rsaJwk] } }, 'GET', '/.well-known/jwks.json');
  expectMatchesOpenApi({ status: 304, headers: { etag: '"abc"', 'cache-control': 'max-age=900' }, body: {} }, 'GET', '/.well-known/jwks.json');

  const problem = { type: 'about:blank', title: 'Not Found', status: 404, detail: 'no such client' };
  const problemHeaders = { 'content-type': 'application/problem+json' };
  expectMatchesOpenApi({ status: 404, headers: problemHeaders, body: problem }, 'GET', '/admin/clients/{client_id}');
  expectMatchesOpenApi({ status: 404, headers: problemHeaders, body: problem }, 'GET', '/admin/clients/some-client');
  assert.throws(
    () => expectMatchesOpenApi({ status: 401, headers: problemHeaders, body: { ...problem, status: 401 } }, 'GET', '/admin/keys'),
    /WWW-Authenticate/,
  );
  expectMatchesOpenApi({ status: 204, headers: {}, body: {} }, 'DELETE', '/admin/clients/{client_id}');
  expectMatchesOpenApi(
    { status: 405, headers: { ...problemHeaders, allow: 'GET' }, body: { ...problem, status: 405, title: 'Method Not Allowed' } },
    'DELETE',
    '/admin/keys',
  );
  assert.throws(() => expectMatchesOpenApi({ status: 200, headers: json, body: {} }, 'PUT', '/admin/keys'), /only a 405/);

  expectMatchesOpenApi(
    { status: 200, headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }, body: {}, text: '# HELP up 1\nup 1\n' },
    'GET',
    '/metrics',
  );
  expectMatchesOpenApi(
    { status: 503, headers: json, body: { status: 'unavailable', checks: { database: 'unavailable', audit_store: 'unavailable', signing_key: 'ok' } } },
    'GET',
    '/readyz',
  );
  assert.throws(
    () => expectMatchesOpenApi({ status: 200, headers: json, body: { status: 'ready', checks: { database: 'unavailable', audit_store: 'ok', signing_key: 'ok' } } }, 'GET', '/readyz'),
    /database/,
  );
});
