import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { SignJWT, type JWTPayload } from 'jose';
import { compactJws, createSigningKey, hmacJws, type SigningKey } from '../helpers/assertion.ts';
import { createVerifier, JwksUnavailable, type Verifier } from '../../packages/verifier/src/index.ts';
import { bodyOf, startTarget, type Target } from './target-service.ts';

const AUDIENCE = 'https://orders.internal';

/** An issuer we control: its JWKS body, status and Cache-Control, and a count of what was asked. */
type FakeIssuer = {
  url: string;
  jwksUri: string;
  requests: { path: string; headers: IncomingMessage['headers']; body: string }[];
  jwks: { status: number; body: string; cacheControl?: string; etag?: string };
  introspection: (body: URLSearchParams, authorization: string | undefined) => { status: number; body: unknown };
  close(): Promise<void>;
};

async function startFakeIssuer(): Promise<FakeIssuer> {
  const fake = {
    requests: [],
    jwks: { status: 200, body: '{"keys":[]}' },
    introspection: () => ({ status: 200, body: { active: true } }),
  } as unknown as FakeIssuer;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      fake.requests.push({ path: req.url ?? '', headers: req.headers, body });
      if (req.url === '/introspect' && req.method === 'POST') {
        const answer = fake.introspection(new URLSearchParams(body), req.headers.authorization);
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
        return;
      }
      const { status, body: jwks, cacheControl, etag } = fake.jwks;
      const headers: Record<string, string> = { 'content-type': 'application/jwk-set+json' };
      if (cacheControl) headers['cache-control'] = cacheControl;
      if (etag) headers.etag = etag;
      if (etag && req.headers['if-none-match'] === etag) {
        res.writeHead(304, headers).end();
        return;
      }
      res.writeHead(status, headers).end(jwks);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  Object.assign(fake, {
    url,
    jwksUri: `${url}/.well-known/jwks.json`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  });
  return fake;
}

const publish = (...keys: SigningKey[]) => JSON.stringify({ keys: keys.map((k) => k.publicJwk) });

describe('the verifier against an issuer it does not control', () => {
  let issuer: FakeIssuer;
  let k1: SigningKey;
  let k2: SigningKey;
  let k3: SigningKey;
  let clockMs: number;
  let fetchErrors: Error[];

  before(async () => {
    issuer = await startFakeIssuer();
    [k1, k2, k3] = await Promise.all([createSigningKey('RS256', 'k1'), createSigningKey('ES256', 'k2'), createSigningKey('RS256', 'k3')]);
  });
  after(() => issuer.close());
  beforeEach(() => {
    issuer.requests.length = 0;
    issuer.jwks = { status: 200, body: publish(k1), cacheControl: 'public, max-age=120' };
    clockMs = Date.now();
    fetchErrors = [];
  });

  const jwksFetches = () => issuer.requests.filter((r) => r.path === '/.well-known/jwks.json').length;
  const verifierFor = (options: Partial<Parameters<typeof createVerifier>[0]> = {}): Verifier => createVerifier({
    issuer: issuer.url,
    audience: AUDIENCE,
    jwksUri: issuer.jwksUri,
    now: () => new Date(clockMs),
    jwksOptions: { now: () => clockMs, onFetchError: (e) => fetchErrors.push(e) },
    ...options,
  });

  /** An RFC 9068 access token from the fake issuer; `header` and `claims` override (undefined removes). */
  async function accessToken(key: SigningKey, claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
    const now = Math.floor(clockMs / 1000);
    const payload: Record<string, unknown> = {
      iss: issuer.url, sub: 'user-1', aud: AUDIENCE, client_id: 'svc-a', scope: 'orders:read', iat: now, exp: now + 300, jti: `j-${Math.random()}`, ...claims,
    };
    for (const [k, v] of Object.entries(claims)) if (v === undefined) delete payload[k];
    const protectedHeader: Record<string, unknown> = { alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header };
    for (const [k, v] of Object.entries(header)) if (v === undefined) delete protectedHeader[k];
    return new SignJWT(payload).setProtectedHeader(protectedHeader as never).sign(key.privateKey);
  }

  it('keeps the key set for the max-age the issuer sends, then revalidates it with If-None-Match', async () => {
    issuer.jwks.etag = '"v1"';
    const verifier = verifierFor();
    await verifier.verify(await accessToken(k1));
    clockMs += 100_000;
    await verifier.verify(await accessToken(k1));
    assert.equal(jwksFetches(), 1, 'fresh for 120 s');
    clockMs += 30_000;
    await verifier.verify(await accessToken(k1));
    assert.equal(jwksFetches(), 2, 'stale after 120 s');
    assert.equal(issuer.requests.at(-1)!.headers['if-none-match'], '"v1"');
    // The 304 renewed the set for another max-age.
    clockMs += 100_000;
    await verifier.verify(await accessToken(k1));
    assert.equal(jwksFetches(), 2);
  });

  it('follows a short max-age too, not a fixed cache time', async () => {
    issuer.jwks.cacheControl = 'max-age=10';
    const verifier = verifierFor();
    await verifier.verify(await accessToken(k1));
    clockMs += 11_000;
    await verifier.verify(await accessToken(k1));
    assert.equal(jwksFetches(), 2);
  });

  it('keeps the last good key set when a refetch fails, and reports the failure', async () => {
    const verifier = verifierFor();
    await verifier.verify(await accessToken(k1));
    issuer.jwks = { status: 500, body: 'down' };
    clockMs += 121_000;
    const verified = await verifier.verify(await accessToken(k1));
    assert.equal(verified.subject, 'user-1');
    assert.equal(jwksFetches(), 2);
    assert.match(fetchErrors[0]!.message, /answered 500/);
    // The failed fetch is not retried on every request.
    await verifier.verify(await accessToken(k1));
    assert.equal(jwksFetches(), 2);
  });

  it('refuses a key set that is too large or holds too many keys, and answers 503 when it has no good set', async () => {
    const big = { keys: [k1.publicJwk, { kty: 'RSA', kid: 'pad', n: 'A'.repeat(300_000), e: 'AQAB' }] };
    issuer.jwks = { status: 200, body: JSON.stringify(big), cacheControl: 'max-age=60' };
    await assert.rejects(verifierFor().verify(await accessToken(k1)), JwksUnavailable);
    assert.match(fetchErrors[0]!.message, /larger than/);

    const many = Array.from({ length: 3 }, (_, i) => ({ ...k1.publicJwk, kid: `k${i}` }));
    issuer.jwks = { status: 200, body: JSON.stringify({ keys: many }) };
    await assert.rejects(verifierFor({ jwksOptions: { maxKeys: 2, now: () => clockMs, onFetchError: (e) => fetchErrors.push(e) } }).verify(await accessToken(k1)), JwksUnavailable);
    assert.match(fetchErrors[1]!.message, /3 keys, more than the 2 accepted/);

    issuer.jwks = { status: 500, body: 'down' };
    const target: Target = await startTarget(verifierFor());
    try {
      const res = await fetch(`${target.url}/orders`, { headers: { authorization: `Bearer ${await accessToken(k1)}` } });
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '5');
      assert.equal((await bodyOf(res)).error, 'temporarily_unavailable');
    } finally {
      await target.close();
    }
  });

  it('ignores private, symmetric and encryption keys in the set', async () => {
    issuer.jwks.body = JSON.stringify({ keys: [{ ...k1.privateJwk }, { kty: 'oct', kid: 'k1', k: 'c2VjcmV0' }, { ...k1.publicJwk, use: 'enc' }] });
    await assert.rejects(verifierFor().verify(await accessToken(k1)), JwksUnavailable);
    assert.match(fetchErrors[0]!.message, /no usable signing key/);
  });

  it('refetches for an unknown kid, at most once per cooldown', async () => {
    const verifier = verifierFor();
    await verifier.verify(await accessToken(k1));
    issuer.jwks.body = publish(k1, k2);
    clockMs += 31_000;
    assert.equal((await verifier.verify(await accessToken(k2))).subject, 'user-1');
    assert.equal(jwksFetches(), 2);
    for (let i = 0; i < 10; i++) await assert.rejects(verifier.verify(await accessToken(k3)), { reason: 'unknown_kid' });
    assert.equal(jwksFetches(), 2, 'no refetch within the cooldown');
    clockMs += 31_000;
    await assert.rejects(verifier.verify(await accessToken(k3)), { reason: 'unknown_kid' });
    assert.equal(jwksFetches(), 3);
  });

  it('refuses a wrong typ, a wrong issuer, a missing RFC 9068 claim, alg none and HMAC keyed by the public key', async () => {
    const verifier = verifierFor();
    const refusal = async (token: string, reason: string) => assert.rejects(verifier.verify(token), { name: 'AccessTokenRejected', status: 401, code: 'invalid_token', reason });
    await refusal(await accessToken(k1, {}, { typ: 'JWT' }), 'claim_typ_invalid');
    await refusal(await accessToken(k1, {}, { typ: undefined }), 'claim_typ_invalid');
    // An ID token or a client assertion is not an access token, even when signed by the same key.
    await refusal(await accessToken(k1, {}, { typ: 'client-authentication+jwt' }), 'claim_typ_invalid');
    await refusal(await accessToken(k1, { iss: `${issuer.url}/` }), 'claim_iss_invalid');
    await refusal(await accessToken(k1, { aud: [`${AUDIENCE}/`, 'https://billing.internal'] }), 'claim_aud_invalid');
    for (const claim of ['client_id', 'jti', 'sub', 'iat', 'exp']) await refusal(await accessToken(k1, { [claim]: undefined }), `claim_${claim}_invalid`);
    await refusal(await accessToken(k1, { nbf: Math.floor(clockMs / 1000) + 60 }), 'claim_nbf_invalid');
    const claims = { iss: issuer.url, sub: 'x', aud: AUDIENCE, client_id: 'x', iat: 1, exp: 9_999_999_999, jti: 'j' };
    await refusal(compactJws({ alg: 'none', typ: 'at+jwt', kid: 'k1' }, claims, ''), 'alg_not_allowed');
    await refusal(hmacJws({ alg: 'HS256', typ: 'at+jwt', kid: 'k1' }, claims, JSON.stringify(k1.publicJwk)), 'alg_not_allowed');
    assert.equal((await verifier.verify(await accessToken(k1, {}, { typ: 'application/at+jwt' }))).clientId, 'svc-a');
  });

  it('exposes the act chain, current actor first, and refuses a malformed or too deep one', async () => {
    const verifier = verifierFor();
    const chained = await verifier.verify(await accessToken(k1, { act: { sub: 'svc-c', act: { sub: 'svc-a', iss: issuer.url } } }));
    assert.deepEqual(chained.actors, [{ sub: 'svc-c' }, { sub: 'svc-a', iss: issuer.url }]);
    let deep: Record<string, unknown> = { sub: 'a0' };
    for (let i = 1; i <= 10; i++) deep = { sub: `a${i}`, act: deep };
    await assert.rejects(verifier.verify(await accessToken(k1, { act: deep })), { reason: 'malformed_act' });
    await assert.rejects(verifier.verify(await accessToken(k1, { act: { client_id: 'no-sub' } })), { reason: 'malformed_act' });
    await assert.rejects(verifier.verify(await accessToken(k1, { act: ['svc'] as never })), { reason: 'malformed_act' });

    const target = await startTarget(verifier);
    try {
      const res = await fetch(`${target.url}/orders`, { headers: { authorization: `Bearer ${await accessToken(k1, { act: { sub: 'svc-c', act: { sub: 'svc-a' } } })}` } });
      assert.equal(res.status, 200);
      assert.deepEqual((await bodyOf(res)).actors, [{ sub: 'svc-c' }, { sub: 'svc-a' }]);
    } finally {
      await target.close();
    }
  });

  it('refuses a token bound in a way it cannot check', async () => {
    const verifier = verifierFor();
    await assert.rejects(verifier.verify(await accessToken(k1, { cnf: { 'x5t#S256': 'abc', kid: 'x' } })), { reason: 'unsupported_cnf' });
    await assert.rejects(verifier.verify(await accessToken(k1, { cnf: 'jkt' as never })), { reason: 'unsupported_cnf' });
  });

  describe('introspection for a high-value route (RFC 7662)', () => {
    let target: Target;
    const SECRET = 'intro secret:with/odd&chars';

    before(async () => {
      const verifier = verifierFor({ introspection: { endpoint: `${issuer.url}/introspect`, clientId: 'orders-rs', clientSecret: SECRET } });
      target = await startTarget(verifier);
    });
    after(() => target.close());

    const refund = async (token: string) => fetch(`${target.url}/refunds`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    const introspections = () => issuer.requests.filter((r) => r.path === '/introspect');

    it('asks the issuer with client_secret_basic, and lets an active token through', async () => {
      const expected = `Basic ${Buffer.from(`orders-rs:${encodeURIComponent(SECRET).replace(/%20/g, '+')}`).toString('base64')}`;
      issuer.introspection = (_body, authorization) => authorization === expected ? { status: 200, body: { active: true, sub: 'user-1' } } : { status: 401, body: { error: 'invalid_client' } };
      const token = await accessToken(k1, { scope: 'orders:write' });
      const res = await refund(token);
      assert.equal(res.status, 201, await res.clone().text());
      assert.equal((await bodyOf(res)).active, true);
      const [asked] = introspections();
      assert.equal(asked!.headers['content-type'], 'application/x-www-form-urlencoded');
      assert.deepEqual(Object.fromEntries(new URLSearchParams(asked!.body)), { token, token_type_hint: 'access_token' });
      // A route that does not ask for introspection never calls it.
      assert.equal((await fetch(`${target.url}/orders`, { headers: { authorization: `Bearer ${await accessToken(k1)}` } })).status, 200);
      assert.equal(introspections().length, 1);
    });

    it('refuses a token the issuer says is no longer active with 401 invalid_token', async () => {
      issuer.introspection = () => ({ status: 200, body: { active: false } });
      const res = await refund(await accessToken(k1, { scope: 'orders:write' }));
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="orders", error="invalid_token", error_description="the access token is no longer active"');
    });

    it('fails closed with 503 when the endpoint refuses us, errs or answers nonsense', async () => {
      for (const answer of [{ status: 401, body: { error: 'invalid_client' } }, { status: 500, body: {} }, { status: 200, body: { active: 'yes' } }]) {
        issuer.introspection = () => answer;
        const res = await refund(await accessToken(k1, { scope: 'orders:write' }));
        assert.equal(res.status, 503);
        assert.equal((await bodyOf(res)).error, 'temporarily_unavailable');
      }
    });

    it('does not introspect a token that fails locally', async () => {
      issuer.introspection = () => ({ status: 200, body: { active: true } });
      const res = await refund(await accessToken(k1, { aud: 'https://billing.internal' }));
      assert.equal(res.status, 401);
      assert.equal(introspections().length, 0);
    });
  });
});
