import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import {
  ACCESS_TOKEN_TYPE, createTokenSource, TOKEN_EXCHANGE_GRANT, TokenRequestFailed, type TokenSourceOptions,
} from '../../packages/token-client/src/index.ts';

type Seen = { at: number; headers: IncomingMessage['headers']; form: URLSearchParams };
type Answer = { status: number; body: unknown; headers?: Record<string, string>; delayMs?: number };

/** A token endpoint whose answers the test writes; every request it got, in order. */
type FakeTokenServer = { url: string; tokenUrl: string; seen: Seen[]; answer: (seen: Seen, n: number) => Answer; close(): Promise<void> };

async function startFakeTokenServer(): Promise<FakeTokenServer> {
  const fake = { seen: [] as Seen[], answer: (() => ({ status: 500, body: {} })) as FakeTokenServer['answer'] } as FakeTokenServer;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/.well-known/oauth-authorization-server') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: fake.url, token_endpoint: fake.tokenUrl }));
        return;
      }
      const seen = { at: Date.now(), headers: req.headers, form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')) };
      fake.seen.push(seen);
      const answer = fake.answer(seen, fake.seen.length);
      setTimeout(() => res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers }).end(JSON.stringify(answer.body)), answer.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.tokenUrl = `${fake.url}/oauth/token`;
  fake.close = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return fake;
}

const issued = (n: number, extra: Record<string, unknown> = {}): Answer => ({ status: 200, body: { access_token: `token-${n}`, token_type: 'Bearer', expires_in: 900, ...extra } });

describe('the token source against a token endpoint it does not control', () => {
  let server: FakeTokenServer;
  let clockMs: number;

  before(async () => {
    server = await startFakeTokenServer();
  });
  after(() => server.close());
  beforeEach(() => {
    server.seen.length = 0;
    server.answer = (_s, n) => issued(n);
    clockMs = Date.now();
  });

  const source = (options: Partial<TokenSourceOptions> = {}) => createTokenSource({
    tokenUrl: server.tokenUrl,
    clientId: 'svc a',
    auth: { method: 'client_secret_basic', clientSecret: 's3cret:/+' },
    audience: 'https://orders.internal',
    now: () => clockMs,
    ...options,
  } as TokenSourceOptions);

  it('sends client_credentials with Basic (RFC 6749 Appendix B encoding), and caches per audience and scope', async () => {
    const tokens = source({ scope: 'orders:read orders:write' });
    assert.equal((await tokens.getToken()).accessToken, 'token-1');
    assert.equal((await tokens.getToken({ scope: 'orders:write orders:read' })).accessToken, 'token-1', 'scope order does not matter');
    assert.equal((await tokens.getToken({ audience: 'https://billing.internal' })).accessToken, 'token-2');
    assert.equal((await tokens.getToken({ scope: 'orders:read' })).accessToken, 'token-3');
    assert.equal((await tokens.getToken()).accessToken, 'token-1');
    assert.equal(server.seen.length, 3);
    const [first] = server.seen;
    assert.equal(first!.headers.authorization, `Basic ${Buffer.from('svc+a:s3cret%3A%2F%2B').toString('base64')}`);
    assert.deepEqual(Object.fromEntries(first!.form), { grant_type: 'client_credentials', audience: 'https://orders.internal', scope: 'orders:read orders:write' });
    assert.equal(first!.headers['content-type'], 'application/x-www-form-urlencoded');
  });

  it('sends client_secret_post in the body instead', async () => {
    await source({ auth: { method: 'client_secret_post', clientSecret: 'x' } }).getToken();
    assert.equal(server.seen[0]!.headers.authorization, undefined);
    assert.equal(server.seen[0]!.form.get('client_id'), 'svc a');
    assert.equal(server.seen[0]!.form.get('client_secret'), 'x');
  });

  it('makes one request for any number of concurrent callers', async () => {
    server.answer = (_s, n) => ({ ...issued(n), delayMs: 50 });
    const tokens = source();
    const all = await Promise.all(Array.from({ length: 25 }, () => tokens.getToken()));
    assert.equal(server.seen.length, 1);
    assert.ok(all.every((t) => t.accessToken === 'token-1'));
  });

  it('refreshes before expiry in the background, serving the valid token meanwhile', async () => {
    server.answer = (_s, n) => issued(n, { expires_in: 300 });
    const tokens = source({ refreshBeforeSeconds: 60 });
    assert.equal((await tokens.getToken()).accessToken, 'token-1');
    clockMs += 239_000;
    assert.equal((await tokens.getToken()).accessToken, 'token-1');
    assert.equal(server.seen.length, 1, 'not due yet');
    clockMs += 2000;
    assert.equal((await tokens.getToken()).accessToken, 'token-1', 'still valid: served while the refresh runs');
    // The refresh lands in the background; poll for it (generously) rather than guess its timing.
    let current = 'token-1';
    for (let i = 0; i < 500 && current === 'token-1'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      current = (await tokens.getToken()).accessToken;
    }
    assert.equal(current, 'token-2');
    assert.equal(server.seen.length, 2, 'one refresh, however many calls came during it');
    // An expired token is never served.
    clockMs += 301_000;
    server.answer = (_s, n) => ({ ...issued(n), delayMs: 20 });
    assert.equal((await tokens.getToken()).accessToken, 'token-3');
  });

  it('after a failed background refresh, keeps serving the valid token and tries again no sooner than 5 s later', async () => {
    const tokens = source();
    await tokens.getToken();
    clockMs += 845_000;
    server.answer = () => ({ status: 401, body: { error: 'invalid_client' } });
    assert.equal((await tokens.getToken()).accessToken, 'token-1');
    // Calls keep coming while the refresh is refused: the valid token is served, and no call sends another request.
    for (let i = 0; i < 500 && server.seen.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    for (let i = 0; i < 20; i++) {
      assert.equal((await tokens.getToken()).accessToken, 'token-1');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(server.seen.length, 2, 'one refused refresh, not one per call');
    // Once the 5 s have passed, the next call refreshes again.
    server.answer = (_s, n) => issued(n);
    let current = 'token-1';
    for (let i = 0; i < 500 && current === 'token-1'; i++) {
      if (i < 6) clockMs += 1000;
      await new Promise((resolve) => setTimeout(resolve, 10));
      current = (await tokens.getToken()).accessToken;
    }
    assert.equal(current, 'token-3');
  });

  it('waits as long as Retry-After says after a 429 or 503, then gets the token', async () => {
    server.answer = (_s, n) => (n === 1 ? { status: 429, body: { error: 'rate_limited' }, headers: { 'retry-after': '1' } } : n === 2 ? { status: 503, body: { error: 'temporarily_unavailable' }, headers: { 'retry-after': '1' } } : issued(n));
    const token = await source().getToken();
    assert.equal(token.accessToken, 'token-3');
    assert.equal(server.seen.length, 3);
    assert.ok(server.seen[1]!.at - server.seen[0]!.at >= 950, 'the first Retry-After was honoured');
    assert.ok(server.seen[2]!.at - server.seen[1]!.at >= 950, 'the second Retry-After was honoured');
  });

  it('fails at once on a Retry-After longer than it waits, and asks no more until it has passed', async () => {
    server.answer = () => ({ status: 503, body: { error: 'temporarily_unavailable' }, headers: { 'retry-after': '120' } });
    const tokens = source();
    await assert.rejects(tokens.getToken(), (e: unknown) => e instanceof TokenRequestFailed && e.status === 503 && e.retryAfterSeconds === 120 && e.error === 'temporarily_unavailable');
    await assert.rejects(tokens.getToken(), (e: unknown) => e instanceof TokenRequestFailed && e.status === undefined && e.retryAfterSeconds === 120);
    assert.equal(server.seen.length, 1);
    clockMs += 121_000;
    server.answer = (_s, n) => issued(n);
    assert.equal((await tokens.getToken()).accessToken, 'token-2');
  });

  it('does not retry a refusal such as invalid_client, and reports the server\'s error', async () => {
    server.answer = () => ({ status: 401, body: { error: 'invalid_client', error_description: 'client authentication failed' } });
    await assert.rejects(source().getToken(), { name: 'TokenRequestFailed', status: 401, error: 'invalid_client', errorDescription: 'client authentication failed' });
    assert.equal(server.seen.length, 1);
  });

  it('private_key_jwt: a fresh assertion (new jti) per request, aud the issuer from discovery (RFC 7523bis)', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const tokens = source({ tokenUrl: undefined, issuer: server.url, auth: { method: 'private_key_jwt', privateKey, alg: 'ES256', kid: 'k1' } });
    await tokens.getToken();
    await tokens.getToken({ audience: 'https://billing.internal' });
    const assertions = server.seen.map((s) => s.form.get('client_assertion')!);
    assert.equal(server.seen[0]!.form.get('client_assertion_type'), 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    assert.equal(server.seen[0]!.headers.authorization, undefined);
    const [a, b] = assertions.map((x) => decodeJwt(x));
    assert.deepEqual(decodeProtectedHeader(assertions[0]!), { alg: 'ES256', typ: 'client-authentication+jwt', kid: 'k1' });
    assert.equal(a!.iss, 'svc a');
    assert.equal(a!.sub, 'svc a');
    assert.equal(a!.aud, server.url);
    assert.equal(a!.exp! - a!.iat!, 60);
    assert.notEqual(a!.jti, b!.jti);
  });

  it('DPoP: a proof per token request, and the nonce the server asks for (RFC 9449 §8)', async () => {
    const keys = await generateKeyPair('ES256');
    server.answer = (seen, n) => {
      const proof = decodeJwt(String(seen.headers.dpop));
      if (proof.nonce !== 'n-1') return { status: 400, body: { error: 'use_dpop_nonce', error_description: 'nonce required' }, headers: { 'dpop-nonce': 'n-1' } };
      return issued(n, { token_type: 'DPoP' });
    };
    const tokens = source({ dpop: { ...keys, alg: 'ES256' } });
    const token = await tokens.getToken();
    assert.equal(token.tokenType, 'DPoP');
    assert.equal(server.seen.length, 2);
    const [first, second] = server.seen.map((s) => String(s.headers.dpop));
    const header = decodeProtectedHeader(second!);
    assert.equal(header.typ, 'dpop+jwt');
    assert.deepEqual(header.jwk, await exportJWK(keys.publicKey));
    const claims = decodeJwt(second!);
    assert.equal(claims.htm, 'POST');
    assert.equal(claims.htu, server.tokenUrl);
    assert.notEqual(decodeJwt(first!).jti, claims.jti);
    // The proof for a resource carries ath (RFC 9449 §4.2) and no query in htu.
    const headers = await tokens.headersFor({ method: 'get', url: 'https://orders.internal/orders?page=2' });
    assert.equal(headers.authorization, `DPoP ${token.accessToken}`);
    const resourceProof = decodeJwt(headers.dpop!);
    assert.equal(resourceProof.htm, 'GET');
    assert.equal(resourceProof.htu, 'https://orders.internal/orders');
    assert.equal(typeof resourceProof.ath, 'string');
  });

  it('token exchange (RFC 8693 §2.1): the request for the next hop, cached per subject token', async () => {
    server.answer = (_s, n) => issued(n, { issued_token_type: ACCESS_TOKEN_TYPE, expires_in: 120 });
    const tokens = source();
    const exchanged = await tokens.exchange({ subjectToken: 'user-token', audience: 'https://billing.internal', scope: 'billing:read', actorToken: 'my-token' });
    assert.equal(exchanged.accessToken, 'token-1');
    assert.equal(exchanged.issuedTokenType, ACCESS_TOKEN_TYPE);
    assert.deepEqual([...server.seen[0]!.form], [
      ['grant_type', TOKEN_EXCHANGE_GRANT],
      ['subject_token', 'user-token'],
      ['subject_token_type', ACCESS_TOKEN_TYPE],
      ['audience', 'https://billing.internal'],
      ['scope', 'billing:read'],
      ['actor_token', 'my-token'],
      ['actor_token_type', ACCESS_TOKEN_TYPE],
    ]);
    assert.match(String(server.seen[0]!.headers.authorization), /^Basic /);
    assert.equal((await tokens.exchange({ subjectToken: 'user-token', audience: 'https://billing.internal', scope: 'billing:read', actorToken: 'my-token' })).accessToken, 'token-1');
    assert.equal((await tokens.exchange({ subjectToken: 'other-user', audience: 'https://billing.internal', scope: 'billing:read', actorToken: 'my-token' })).accessToken, 'token-2');
    await tokens.exchange({ subjectToken: 'jwt', subjectTokenType: 'urn:ietf:params:oauth:token-type:jwt', resource: ['https://a.internal', 'https://b.internal'], requestedTokenType: ACCESS_TOKEN_TYPE });
    assert.deepEqual(server.seen[2]!.form.getAll('resource'), ['https://a.internal', 'https://b.internal']);
    assert.equal(server.seen[2]!.form.get('requested_token_type'), ACCESS_TOKEN_TYPE);
    assert.equal(server.seen[2]!.form.get('actor_token'), null);
    assert.equal(server.seen.length, 3);
  });

  it('refuses a 200 without a usable token, and a DPoP token it cannot use', async () => {
    server.answer = () => ({ status: 200, body: { token_type: 'Bearer' } });
    await assert.rejects(source().getToken(), /without a usable access_token/);
    server.answer = (_s, n) => issued(n, { token_type: 'DPoP' });
    await assert.rejects(source().getToken(), /no DPoP key is configured/);
  });

  it('refuses a discovery document naming another issuer (RFC 8414 §3.3)', async () => {
    const tokens = source({ tokenUrl: undefined, issuer: `${server.url}/` });
    await assert.rejects(tokens.getToken(), /the metadata names the issuer/);
    assert.equal(server.seen.length, 0);
  });
});
