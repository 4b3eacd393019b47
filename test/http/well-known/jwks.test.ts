import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeProtectedHeader, type JWK } from 'jose';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { startTestService, type TestService } from '../../helpers/start-app.ts';

const JWKS = '/.well-known/jwks.json';

/** RFC 7518 §6.2.2, §6.3.2, §6.4 and RFC 8037 §2: private and symmetric key members. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'];

/** Every member name anywhere in a JSON value, with its path, for a recursive scan. */
function memberPaths(value: unknown, path = '$'): { name: string; path: string }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => memberPaths(v, `${path}[${i}]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([name, v]) => [{ name, path: `${path}.${name}` }, ...memberPaths(v, `${path}.${name}`)]);
}

function assertNoPrivateOrSymmetricMaterial(document: unknown): void {
  const leaked = memberPaths(document).filter((m) => PRIVATE_MEMBERS.includes(m.name));
  assert.deepEqual(leaked, [], `private or symmetric members: ${leaked.map((m) => m.path).join(', ')}`);
  assert.doesNotMatch(JSON.stringify(document), /"kty"\s*:\s*"oct"|PRIVATE KEY/);
}

/** Cache-Control directives as a map (RFC 9111 §5.2): name → argument, or true when it has none. */
function cacheDirectives(header: string | undefined): Map<string, string | true> {
  assert.ok(header, 'Cache-Control is missing');
  return new Map(header.split(',').map((d) => {
    const [name, value] = d.trim().split('=') as [string, string | undefined];
    return [name.toLowerCase(), value ?? true];
  }));
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('GET /.well-known/jwks.json', () => {
  let t: TestService;
  let etag: string;

  before(async () => {
    t = await startTestService();
    etag = (await t.agent.get(JWKS).expect(200)).headers.etag as string;
  });
  after(() => t.stop());

  it('JW-01 publishes no private or symmetric key members, nor does GET /admin/keys', async () => {
    const jwks = await t.agent.get(JWKS);
    assert.equal(jwks.status, 200);
    expectMatchesOpenApi({ ...jwks, body: JSON.parse(jwks.text) }, 'GET', JWKS);
    const document = JSON.parse(jwks.text) as { keys: JWK[] };
    assert.ok(document.keys.length >= 1);
    assertNoPrivateOrSymmetricMaterial(document);

    const admin = await t.agent.get('/admin/keys').set('authorization', `Bearer ${await t.adminToken()}`);
    assert.equal(admin.status, 200, admin.text);
    expectMatchesOpenApi(admin, 'GET', '/admin/keys');
    assertNoPrivateOrSymmetricMaterial(admin.body);
    // The admin view has no key material at all, public or private (contract §5).
    const material = memberPaths(admin.body).filter((m) => ['n', 'e', 'x', 'y', 'crv', 'jwk', 'encrypted_private_jwk'].includes(m.name));
    assert.deepEqual(material, []);
    assert.deepEqual(admin.body.items.map((k: { kid: string }) => k.kid).sort(), document.keys.map((k) => k.kid).sort());
  });

  it('JW-02 lists distinct kids, each with use sig and alg, RSA keys of at least 2048 bits, and the kid of a live token', async () => {
    const { keys } = JSON.parse((await t.agent.get(JWKS).expect(200)).text) as { keys: JWK[] };
    const kids = keys.map((k) => k.kid);
    assert.equal(new Set(kids).size, kids.length, `duplicate kids: ${kids.join(', ')}`);
    assert.ok(keys.length <= 100, 'more keys than the cap of 100');
    for (const key of keys) {
      assert.ok(typeof key.kid === 'string' && key.kid.length > 0);
      assert.equal(key.use, 'sig');
      assert.equal(key.alg, 'RS256');
      assert.equal(key.kty, 'RSA');
      const bits = Buffer.from(key.n!, 'base64url').length * 8;
      assert.ok(bits >= 2048, `RFC 7518 §3.3: modulus of ${key.kid} is ${bits} bits`);
      assert.equal(key.e, 'AQAB');
    }
    const client = await t.registerClient();
    const token = await t.tokenFor(client.clientId, client.secret);
    assert.ok(kids.includes(decodeProtectedHeader(token).kid!), 'the signing kid of a fresh token is not published');
  });

  it('JW-03 is application/jwk-set+json with public caching below KEY_PREPUBLISH, stale-while-revalidate, a strong ETag and no cookie', async () => {
    const res = await t.agent.get(JWKS);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/jwk-set+json; charset=utf-8');
    const directives = cacheDirectives(res.headers['cache-control']);
    assert.equal(directives.get('public'), true);
    const maxAge = Number(directives.get('max-age'));
    assert.ok(Number.isInteger(maxAge) && maxAge > 0 && maxAge < t.config.keyPrepublish,
      `max-age ${maxAge} must be within (0, KEY_PREPUBLISH=${t.config.keyPrepublish})`);
    // Jittered per response by up to 10% below JWKS_MAX_AGE, so a fleet does not refetch in step.
    assert.ok(maxAge <= t.config.jwksMaxAge && maxAge >= Math.floor(t.config.jwksMaxAge * 0.9), `max-age ${maxAge}`);
    assert.match(String(directives.get('stale-while-revalidate')), /^[1-9][0-9]*$/);
    for (const forbidden of ['no-store', 'no-cache', 'private']) assert.equal(directives.has(forbidden), false, forbidden);
    // RFC 9110 §8.8.3: a strong validator is a quoted opaque tag without the W/ prefix.
    assert.match(res.headers.etag as string, /^"[\x21\x23-\x7e]+"$/);
    assert.equal(res.headers['set-cookie'], undefined);
  });

  // The ETag changing after a rotation belongs with key rotation; here it must be stable while the key set is.
  it('JW-03 keeps the ETag and the body identical across requests while the key set is unchanged', async () => {
    const responses = await Promise.all(Array.from({ length: 5 }, () => t.agent.get(JWKS).expect(200)));
    assert.deepEqual(new Set(responses.map((r) => r.headers.etag)), new Set([etag]));
    assert.equal(new Set(responses.map((r) => r.text)).size, 1);
  });

  it('JW-03 answers If-None-Match with the current ETag by 304 with no body, keeping ETag and Cache-Control', async () => {
    await t.agent.get(JWKS).expect(200);
    // RFC 9110 §13.1.2: If-None-Match uses weak comparison, takes a list, and "*" matches any current representation.
    for (const header of [etag, `"stale", ${etag}`, `W/${etag}`, `"a",W/"b" , ${etag}`, '*']) {
      const res = await t.agent.get(JWKS).set('if-none-match', header);
      assert.equal(res.status, 304, `If-None-Match: ${header}`);
      expectMatchesOpenApi(res, 'GET', JWKS);
      assert.equal(res.text, '');
      assert.equal(res.headers['content-length'], undefined);
      assert.equal(res.headers['content-type'], undefined);
      assert.equal(res.headers.etag, etag);
      assert.match(res.headers['cache-control'] as string, /^public, max-age=\d+, stale-while-revalidate=\d+, stale-if-error=\d+$/);
      assert.equal(res.headers['set-cookie'], undefined);
    }
  });

  it('JW-03 answers a non-matching If-None-Match with the full key set', async () => {
    for (const header of ['"stale"', `"${etag.slice(1, -2)}"`, `${etag.slice(0, -1)}x"`, 'W/"stale", "other"']) {
      const res = await t.agent.get(JWKS).set('if-none-match', header);
      assert.equal(res.status, 200, `If-None-Match: ${header}`);
      assert.equal(res.headers.etag, etag);
      assert.ok(JSON.parse(res.text).keys.length >= 1);
    }
  });

  it('JW-05 answers HEAD with 200, the GET headers and no body', async () => {
    const get = await t.agent.get(JWKS).expect(200);
    const head = await t.agent.head(JWKS);
    // RFC 9110 §9.3.2: HEAD is GET without content; openapi.yaml documents GET only, so the headers are compared with GET's.
    assert.equal(head.status, 200);
    assert.equal(head.text, undefined);
    assert.equal(head.headers.etag, etag);
    assert.equal(head.headers['content-type'], get.headers['content-type']);
    assert.equal(head.headers['content-length'], get.headers['content-length']);
    assert.match(head.headers['cache-control'] as string, /^public, max-age=\d+/);
  });

  it('JW-05 answers POST, PUT and DELETE with 405 and Allow: GET, HEAD', async () => {
    for (const method of ['post', 'put', 'delete'] as const) {
      const res = await t.agent[method](JWKS).send({ keys: [] });
      assert.equal(res.status, 405, `${method.toUpperCase()}: ${res.text}`);
      expectMatchesOpenApi(res, method, JWKS);
      assert.equal(res.headers.allow, 'GET, HEAD');
      assert.match(res.headers['content-type'] as string, /^application\/json/);
      assert.deepEqual(Object.keys(res.body).sort(), ['error', 'error_description']);
      assert.equal(res.body.error, 'invalid_request');
    }
    // The key set is unchanged by the attempts.
    assert.equal((await t.agent.get(JWKS).expect(200)).headers.etag, etag);
  });

  // The case asks 2,000 req/s for 30 s; a bounded burst (2,000 requests, 50 concurrent) keeps the suite quick.
  it('JW-05 serves a burst of 2,000 requests, 50 concurrent, with no 5xx and one constant ETag and body', async () => {
    const statuses = new Map<number, number>();
    const etags = new Set<string | null>();
    const bodies = new Set<string>();
    let next = 0;
    async function worker(): Promise<void> {
      while (next < 2000) {
        next++;
        const res = await fetch(`${t.url}${JWKS}`);
        const text = await res.text();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        etags.add(res.headers.get('etag'));
        bodies.add(sha256(text));
      }
    }
    await Promise.all(Array.from({ length: 50 }, worker));
    assert.deepEqual([...statuses], [[200, 2000]]);
    assert.deepEqual([...etags], [etag]);
    assert.equal(bodies.size, 1);
  });
});

describe('GET /.well-known/jwks.json with SIGNING_ALG=ES256', () => {
  let t: TestService;

  before(async () => {
    t = await startTestService({ SIGNING_ALG: 'ES256' });
  });
  after(() => t.stop());

  it('JW-01 JW-02 publishes P-256 keys for ES256 with use sig, public coordinates only', async () => {
    const res = await t.agent.get(JWKS);
    assert.equal(res.status, 200);
    expectMatchesOpenApi({ ...res, body: JSON.parse(res.text) }, 'GET', JWKS);
    const { keys } = JSON.parse(res.text) as { keys: JWK[] };
    assertNoPrivateOrSymmetricMaterial({ keys });
    assert.equal(new Set(keys.map((k) => k.kid)).size, keys.length);
    for (const key of keys) {
      // RFC 7518 §3.4: ES256 is ECDSA on P-256, whose coordinates are 32 bytes each.
      assert.deepEqual(Object.keys(key).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
      assert.deepEqual([key.kty, key.crv, key.alg, key.use], ['EC', 'P-256', 'ES256', 'sig']);
      assert.equal(Buffer.from(key.x!, 'base64url').length, 32);
      assert.equal(Buffer.from(key.y!, 'base64url').length, 32);
    }
    const client = await t.registerClient();
    const header = decodeProtectedHeader(await t.tokenFor(client.clientId, client.secret));
    assert.equal(header.alg, 'ES256');
    assert.ok(keys.some((k) => k.kid === header.kid));
  });
});
