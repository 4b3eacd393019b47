import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { createSigningKey } from '../helpers/assertion.ts';
import { adminBearer, listKeys } from '../helpers/admin-keys.ts';
import { startTestService, type RegisteredClient, type TestService } from '../helpers/start-app.ts';
import { createRemoteJwks, createVerifier, DEFAULT_DPOP_ALGORITHMS, verify } from '../../packages/verifier/src/index.ts';
import { bodyOf, countingFetch, startTarget, type Target } from './target-service.ts';

const ORDERS = 'https://orders.internal';
const BILLING = 'https://billing.internal';

describe('the verifier middleware on an Express target, with tokens from the real service', () => {
  let t: TestService;
  let caller: RegisteredClient;
  let target: Target;
  let jwksFetch: ReturnType<typeof countingFetch>;
  let offsetMs = 0;

  before(async () => {
    t = await startTestService({ RATE_LIMIT_TOKEN_PER_CLIENT: '0' });
    caller = await t.registerClient({ client_id: 'orders-caller', audience: [ORDERS, BILLING] });
    jwksFetch = countingFetch();
    const verifier = createVerifier({
      issuer: t.config.issuer,
      audience: ORDERS,
      now: () => new Date(Date.now() + offsetMs),
      jwksOptions: { fetch: jwksFetch },
    });
    target = await startTarget(verifier);
  });
  after(async () => {
    await target.close();
    await t.stop();
  });

  const token = (params: Record<string, string> = {}) => t.tokenFor(caller.clientId, caller.secret, { audience: ORDERS, ...params });
  const call = (path: string, authorization?: string, method: 'GET' | 'POST' = 'GET') =>
    fetch(`${target.url}${path}`, { method, headers: authorization === undefined ? {} : { authorization } });

  /** RFC 6750 §3: the status, one Bearer challenge with these parameters, and the same error in the body. */
  async function expectChallenge(res: Response, status: number, error: string, description: string, scope?: string) {
    assert.equal(res.status, status);
    const expected = [`Bearer realm="orders"`, `error="${error}"`, `error_description="${description}"`, ...(scope ? [`scope="${scope}"`] : [])].join(', ');
    assert.equal(res.headers.get('www-authenticate'), expected);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.deepEqual(await bodyOf(res), { error, error_description: description });
  }

  it('lets a token of the service through and shows the route who called', async () => {
    const res = await call('/orders', `Bearer ${await token()}`);
    assert.equal(res.status, 200);
    assert.deepEqual(await bodyOf(res), {
      sub: 'orders-caller', client_id: 'orders-caller', scopes: ['orders:read', 'orders:write'], actors: [], binding: null, active: null,
    });
    // The scheme is case-insensitive (RFC 9110 §11.1).
    assert.equal((await call('/orders', `bearer ${await token()}`)).status, 200);
  });

  it('answers 401 with a challenge and no error code when no token is sent (RFC 6750 §3.1)', async () => {
    for (const authorization of [undefined, 'Basic b3JkZXJzOnNlY3JldA==']) {
      const res = await call('/orders', authorization);
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), `Bearer realm="orders", DPoP realm="orders", algs="${DEFAULT_DPOP_ALGORITHMS.join(' ')}"`);
      assert.equal(await res.text(), '');
    }
  });

  it('answers 400 invalid_request for a malformed Authorization header', async () => {
    for (const authorization of ['Bearer', 'Bearer a b', 'Bearer tok"en']) {
      const res = await call('/orders', authorization);
      assert.equal(res.status, 400);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="orders", error="invalid_request", error_description="the Authorization header is malformed"/);
    }
  });

  it('refuses a token for another audience, a token checked against another issuer, a tampered one and garbage with 401 invalid_token', async () => {
    await expectChallenge(await call('/orders', `Bearer ${await token({ audience: BILLING })}`), 401, 'invalid_token', 'the access token is not meant for this service');
    const good = await token();
    const [h, p, s] = good.split('.');
    const flipped = Buffer.from(p!, 'base64url');
    flipped[flipped.length - 3]! ^= 1;
    await expectChallenge(await call('/orders', `Bearer ${h}.${flipped.toString('base64url')}.${s}`), 401, 'invalid_token', 'the access token signature is invalid');
    await expectChallenge(await call('/orders', 'Bearer not.a.jwt'), 401, 'invalid_token', 'the access token is malformed');

    const elsewhere = createVerifier({ issuer: 'https://issuer.example', audience: ORDERS, jwksUri: `${t.url}/.well-known/jwks.json` });
    await assert.rejects(elsewhere.verify(good), { name: 'AccessTokenRejected', reason: 'claim_iss_invalid', description: 'the access token is not from the expected issuer' });
  });

  it('refuses an expired token, allowing only a few seconds of skew', async () => {
    const issued = await token();
    const exp = decodeJwt(issued).exp! * 1000;
    try {
      offsetMs = exp + 1000 - Date.now();
      assert.equal((await call('/orders', `Bearer ${issued}`)).status, 200, 'within the 5 s skew');
      offsetMs = exp + 10_000 - Date.now();
      await expectChallenge(await call('/orders', `Bearer ${issued}`), 401, 'invalid_token', 'the access token has expired');
    } finally {
      offsetMs = 0;
    }
  });

  it('answers 403 insufficient_scope, naming the scope the route needs, for a token without it', async () => {
    const readOnly = await token({ scope: 'orders:read' });
    assert.equal((await call('/orders', `Bearer ${readOnly}`)).status, 200);
    await expectChallenge(await call('/orders', `Bearer ${readOnly}`, 'POST'), 403, 'insufficient_scope', 'the access token lacks the scope orders:write', 'orders:write');
    assert.equal((await call('/orders', `Bearer ${await token({ scope: 'orders:write' })}`, 'POST')).status, 201);
  });

  it('after a key rotation on the service, fetches the JWKS again for the unknown kid, once per cooldown', async () => {
    let skewMs = 0;
    const counted = countingFetch();
    const verifier = createVerifier({ issuer: t.config.issuer, audience: ORDERS, now: () => new Date(Date.now() + skewMs), jwksOptions: { fetch: counted } });
    const rotating = await startTarget(verifier);
    const get = (authorization: string) => fetch(`${rotating.url}/orders`, { headers: { authorization } });
    try {
      assert.equal((await get(`Bearer ${await token()}`)).status, 200);
      assert.equal(counted.count, 1);
      // Revoking the active key twice makes the service sign with a key published after our fetch.
      for (let i = 0; i < 2; i++) {
        const active = (await listKeys(t)).find((k) => k.state === 'active')!;
        const res = await t.agent.post(`/admin/keys/${active.kid}/revoke`).set('authorization', await adminBearer(t));
        assert.equal(res.status, 200, res.text);
      }
      const rotated = await token();
      // Within the 30 s cooldown of the last fetch an unknown kid is refused without a fetch...
      await expectChallenge(await get(`Bearer ${rotated}`), 401, 'invalid_token', 'the access token is signed by an unknown key');
      assert.equal(counted.count, 1);
      // ...after it, the new kid is fetched once and accepted.
      skewMs = 31_000;
      const res = await get(`Bearer ${rotated}`);
      assert.equal(res.status, 200, await res.text());
      assert.equal(counted.count, 2);
      assert.ok(verifier.jwks.kids().includes(decodeProtectedHeader(rotated).kid!));

      // A forged kid right after: refused, and no further fetch within the cooldown.
      const forger = await createSigningKey('RS256', 'forged-kid');
      const forged = await new SignJWT({ client_id: 'orders-caller', scope: 'orders:read' })
        .setProtectedHeader({ alg: 'RS256', kid: 'forged-kid', typ: 'at+jwt' })
        .setIssuer(t.config.issuer).setAudience(ORDERS).setSubject('orders-caller').setIssuedAt().setExpirationTime('5m').setJti('x')
        .sign(forger.privateKey);
      for (let i = 0; i < 5; i++) await expectChallenge(await get(`Bearer ${forged}`), 401, 'invalid_token', 'the access token is signed by an unknown key');
      assert.equal(counted.count, 2);
    } finally {
      await rotating.close();
    }
  });

  it('verify() alone, with a shared key set, checks the same things', async () => {
    const jwks = createRemoteJwks(`${t.url}/.well-known/jwks.json`);
    const verifier = createVerifier({ issuer: t.config.issuer, audience: [BILLING, ORDERS], jwks });
    const verified = await verifier.verify(await token({ audience: BILLING }), { scopes: ['orders:read'] });
    assert.equal(verified.clientId, 'orders-caller');
    assert.deepEqual(verified.audience, [BILLING]);
    await assert.rejects(verifier.verify(await token({ audience: BILLING }), { scopes: ['orders:admin'] }), { status: 403, code: 'insufficient_scope' });
  });

  it('verify(token, options) with a fresh options object per call fetches the keys once', async () => {
    const counted = countingFetch();
    for (let i = 0; i < 3; i++) {
      const verified = await verify(await token(), {
        issuer: t.config.issuer, audience: ORDERS, jwksUri: `${t.url}/.well-known/jwks.json?shared`, jwksOptions: { fetch: counted }, scopes: ['orders:read'],
      });
      assert.equal(verified.subject, 'orders-caller');
    }
    assert.equal(counted.count, 1);
    await assert.rejects(verify(await token({ audience: BILLING }), { issuer: t.config.issuer, audience: ORDERS, jwksUri: `${t.url}/.well-known/jwks.json?shared` }), { reason: 'claim_aud_invalid' });
  });
});
