import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { ExternalTokenRejected, MAX_EXTERNAL_TOKEN_LENGTH, type ExternalTokenCheck } from '../../src/issuers/external-token-verifier.ts';
import { startFakeIdentityProvider, type FakeIdentityProvider } from '../helpers/fake-idp.ts';
import { expectProblemDocument } from '../helpers/problem.ts';
import { startTestService, type TestService } from '../helpers/start-app.ts';

/**
 * The verifier the token-exchange grant and federated client assertions call, against a fake
 * identity provider on loopback (keys made with jose, its JWK Set served over HTTP), registered
 * through the admin API. ALLOW_INSECURE_JWKS_URI lets the issuer and its jwks_uri be http://127.0.0.1.
 */

const AUDIENCE = 'https://exchange.example';
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

describe('external token verifier', () => {
  let t: TestService;
  let idp: FakeIdentityProvider;
  let admin: string;
  let issuerId: string;
  let rsaKid: string;
  let ecKid: string;
  let forger: { privateKey: CryptoKey; alg: string };

  before(async () => {
    [t, idp] = await Promise.all([startTestService({ ALLOW_INSECURE_JWKS_URI: 'true' }), startFakeIdentityProvider(['RS256', 'ES256'])]);
    [rsaKid, ecKid] = idp.publicJwks().keys.map((k) => k.kid!) as [string, string];
    forger = { privateKey: (await generateKeyPair('RS256')).privateKey, alg: 'RS256' };
    admin = `Bearer ${await t.adminToken()}`;
    const res = await t.agent.post('/admin/trusted-issuers').set('authorization', admin)
      .send({ issuer: idp.issuer, jwks_uri: idp.jwksUri, audiences: [AUDIENCE], algorithms: ['RS256', 'ES256'] });
    assert.equal(res.status, 201, res.text);
    issuerId = res.body.id;
  });
  after(async () => {
    await t?.stop();
    await idp?.close();
  });

  const now = () => t.clock.now();
  const sign = (claims: Record<string, unknown>, options: Parameters<FakeIdentityProvider['sign']>[1] = {}) =>
    idp.sign({ sub: 'alice', aud: AUDIENCE, ...claims }, { now: now(), ...options });
  const verify = (token: string, extra: Partial<ExternalTokenCheck> = {}) => t.container.externalTokens.verify({ token, now: now(), ...extra });
  async function expectRejected(token: string, reason: string, extra: Partial<ExternalTokenCheck> = {}) {
    await assert.rejects(verify(token, extra), (error: unknown) => {
      assert.ok(error instanceof ExternalTokenRejected, String(error));
      assert.equal(error.reason, reason, error.message);
      assert.doesNotMatch(error.message, /eyJ/, 'the message never repeats the token');
      return true;
    });
  }
  const patchIssuer = async (body: Record<string, unknown>) => {
    const res = await t.agent.patch(`/admin/trusted-issuers/${issuerId}`).set('authorization', admin).send(body);
    assert.equal(res.status, 200, res.text);
  };

  it('accepts a good token (RS256 and ES256): the subject, the registration, the verified claims and header', async () => {
    const fetchesBefore = idp.jwksRequests();
    const verified = await verify(await sign({ jti: 'j-1', scope: 'openid' }));
    assert.equal(verified.subject, 'alice');
    assert.equal(verified.issuer.id, issuerId);
    assert.equal(verified.issuer.issuer, idp.issuer);
    assert.equal(verified.payload.jti, 'j-1');
    assert.equal(verified.header.kid, rsaKid);
    assert.equal(verified.header.alg, 'RS256');
    assert.equal((await verify(await sign({ sub: 'bob' }, { kid: ecKid }))).subject, 'bob');
    assert.equal(idp.jwksRequests() - fetchesBefore, 1, 'the JWK Set was fetched once and then served from the cache');
  });

  it('accepts an aud array holding one accepted audience, and an audience the caller adds; refuses any other (audience_mismatch)', async () => {
    assert.equal((await verify(await sign({ aud: ['https://other.example', AUDIENCE] }))).subject, 'alice');
    const forUs = await sign({ aud: t.config.tokenEndpoint });
    await expectRejected(forUs, 'audience_mismatch');
    assert.equal((await verify(forUs, { audiences: [t.config.issuer, t.config.tokenEndpoint] })).subject, 'alice');
    await expectRejected(await sign({ aud: 'https://other.example' }), 'audience_mismatch');
    await expectRejected(await sign({ aud: undefined }), 'audience_mismatch');
    await expectRejected(await sign({ aud: [`${AUDIENCE}/`, AUDIENCE.toUpperCase()] }), 'audience_mismatch');
    await expectRejected(await sign({ aud: [null, 7] }), 'audience_mismatch');
  });

  it('refuses an unknown issuer, our own issuer (verified elsewhere, against our keys), and a token without iss', async () => {
    await expectRejected(await sign({ iss: 'https://unknown.example' }), 'unknown_issuer');
    await expectRejected(await sign({ iss: `${idp.issuer}/` }), 'unknown_issuer');
    await expectRejected(await sign({ iss: t.config.issuer }), 'unknown_issuer');
    await expectRejected(await sign({ iss: undefined }), 'token_malformed');
    await expectRejected(await sign({ iss: 42 }), 'token_malformed');
  });

  it('AS-08/AS-09 refuses alg none in any spelling, HS256 keyed with the public key, and an allowed-elsewhere PS256, without fetching keys', async () => {
    const fetches = idp.jwksRequests();
    const claims = { iss: idp.issuer, sub: 'alice', aud: AUDIENCE, exp: Math.floor(now().getTime() / 1000) + 300 };
    for (const alg of ['none', 'None', 'NONE']) await expectRejected(`${b64({ alg, kid: rsaKid })}.${b64(claims)}.`, 'alg_not_allowed');
    const publicJwk = idp.publicJwks().keys[0]!;
    for (const secret of [JSON.stringify(publicJwk), JSON.stringify({ kty: publicJwk.kty, n: publicJwk.n, e: publicJwk.e })]) {
      const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: rsaKid }).sign(new TextEncoder().encode(secret));
      await expectRejected(hs, 'alg_not_allowed');
    }
    // PS256 is an asymmetric algorithm we support, but not one this issuer registered.
    const pss = { privateKey: (await generateKeyPair('PS256')).privateKey, alg: 'PS256' };
    await expectRejected(await sign({}, { key: pss, kid: rsaKid }), 'alg_not_allowed');
    await expectRejected(`${b64({ kid: rsaKid })}.${b64(claims)}.c2ln`, 'token_malformed');
    assert.equal(idp.jwksRequests(), fetches);
  });

  it('refuses a forged signature under a published kid, and a tampered payload (invalid_signature)', async () => {
    await expectRejected(await sign({}, { key: forger, kid: rsaKid }), 'invalid_signature');
    const [h, p, s] = (await sign({})).split('.');
    const tampered = b64({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: 'admin' });
    await expectRejected(`${h}.${tampered}.${s}`, 'invalid_signature');
  });

  it('AS-12 refetches the JWK Set for an unknown kid at most once per cool-down, and picks up a key the IdP rotated in', async () => {
    t.clock.advance(31); // past the cool-down that the first fetch started
    const fetches = idp.jwksRequests();
    await expectRejected(await sign({}, { key: forger, kid: 'unknown-1' }), 'unknown_key');
    assert.equal(idp.jwksRequests(), fetches + 1, 'an unknown kid refetches once');
    for (let i = 0; i < 20; i++) await expectRejected(await sign({}, { key: forger, kid: `random-${i}` }), 'unknown_key');
    assert.equal(idp.jwksRequests(), fetches + 1, 'random kids within the cool-down fetch nothing more');

    const rotated = await idp.addKey('RS256');
    await expectRejected(await sign({}, { kid: rotated }), 'unknown_key');
    assert.equal(idp.jwksRequests(), fetches + 1, 'still within the cool-down');
    t.clock.advance(31);
    assert.equal((await verify(await sign({ sub: 'carol' }, { kid: rotated }))).subject, 'carol', 'the new key is fetched after the cool-down');
    assert.equal(idp.jwksRequests(), fetches + 2);
    assert.equal((await verify(await sign({}, { kid: rotated }))).subject, 'alice');
    assert.equal(idp.jwksRequests(), fetches + 2, 'and then served from the cache');
  });

  it('checks time: exp required and not passed (60 s skew), nbf and iat not in the future', async () => {
    const s = Math.floor(now().getTime() / 1000);
    await expectRejected(await sign({ exp: s - 120 }), 'token_expired');
    assert.equal((await verify(await sign({ exp: s - 30 }))).subject, 'alice', 'within the clock skew allowance');
    await expectRejected(await sign({ exp: undefined }), 'exp_missing');
    await expectRejected(await sign({ exp: String(s + 300) }), 'token_malformed');
    await expectRejected(await sign({ nbf: s + 120 }), 'token_not_yet_valid');
    await expectRejected(await sign({ iat: s + 120 }), 'token_not_yet_valid');
    assert.equal((await verify(await sign({ nbf: s + 30, iat: s + 30 }))).subject, 'alice');
  });

  it('bounds the token age when the issuer has max_token_age: exp - iat, time since iat, and a required iat (token_too_old)', async () => {
    await patchIssuer({ max_token_age: 600 });
    try {
      const s = Math.floor(now().getTime() / 1000);
      await expectRejected(await sign({ exp: s + 3600 }), 'token_too_old');
      await expectRejected(await sign({ iat: s - 700, exp: s + 60 }), 'token_too_old');
      await expectRejected(await sign({ iat: undefined }), 'token_too_old');
      assert.equal((await verify(await sign({ iat: s - 500, exp: s + 100 }))).subject, 'alice');
    } finally {
      await patchIssuer({ max_token_age: null });
    }
    const s = Math.floor(now().getTime() / 1000);
    assert.equal((await verify(await sign({ iat: s - 7200, exp: s + 3600 }))).subject, 'alice', 'without the bound, exp alone decides');
  });

  it('reads the subject from the configured claim, and refuses a missing, empty, non-string or unprintable one', async () => {
    await patchIssuer({ subject_claim: 'preferred_username' });
    try {
      assert.equal((await verify(await sign({ preferred_username: 'alice@example.com' }))).subject, 'alice@example.com');
      await expectRejected(await sign({}), 'subject_missing');
      await expectRejected(await sign({ preferred_username: '' }), 'subject_missing');
      await expectRejected(await sign({ preferred_username: 123 }), 'subject_missing');
      await expectRejected(await sign({ preferred_username: ['a'] }), 'subject_missing');
      await expectRejected(await sign({ preferred_username: 'alice\nadmin' }), 'subject_invalid');
      await expectRejected(await sign({ preferred_username: 'a'.repeat(1025) }), 'subject_invalid');
    } finally {
      await patchIssuer({ subject_claim: 'sub' });
    }
    await expectRejected(await sign({ sub: undefined }), 'subject_missing');
  });

  it('refuses a disabled issuer at once, and accepts it again once enabled', async () => {
    const token = await sign({});
    await patchIssuer({ disabled: true });
    await expectRejected(token, 'unknown_issuer');
    await patchIssuer({ disabled: false });
    assert.equal((await verify(token)).subject, 'alice');
  });

  it('IN-03 refuses a token over the length bound before decoding it, and malformed tokens of every shape', async () => {
    const fetches = idp.jwksRequests();
    const good = await sign({});
    const [h, p, s] = good.split('.');
    await expectRejected(`${h}.${p}${'A'.repeat(MAX_EXTERNAL_TOKEN_LENGTH)}.${s}`, 'token_too_large');
    for (const bad of ['', 'abc', `${h}.${p}`, `${good}.x`, `${h}.${p}.${s}.x.y`, `${h}.${p}.${s}=`, `${b64('null')}.${p}.${s}`, `${h}.${b64('not json')}.${s}`, `${h}.${b64('[1]')}.${s}`, ` ${good}`]) {
      await expectRejected(bad, 'token_malformed');
    }
    await assert.rejects(verify(undefined as unknown as string), (e: unknown) => e instanceof ExternalTokenRejected && e.reason === 'token_malformed');
    assert.equal(idp.jwksRequests(), fetches, 'nothing was fetched for any of them');
  });

  it('AS-11 never uses keys named by the token header (jwk, jku, x5u): the canary gets no request', async () => {
    let canaryHits = 0;
    const canary = http.createServer((_req, res) => {
      canaryHits += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}');
    });
    await new Promise<void>((resolve) => canary.listen(0, '127.0.0.1', resolve));
    const canaryUrl = `http://127.0.0.1:${(canary.address() as AddressInfo).port}/jwks`;
    try {
      const { publicKey, privateKey } = await generateKeyPair('RS256');
      const attacker = { privateKey, alg: 'RS256' };
      const embedded = await exportJWK(publicKey);
      await expectRejected(await sign({}, { key: attacker, kid: 'attacker', header: { jwk: embedded } }), 'unknown_key');
      await expectRejected(await sign({}, { key: attacker, kid: rsaKid, header: { jwk: embedded } }), 'invalid_signature');
      await expectRejected(await sign({}, { key: attacker, kid: rsaKid, header: { jku: canaryUrl } }), 'invalid_signature');
      await expectRejected(await sign({}, { key: attacker, kid: rsaKid, header: { x5u: canaryUrl } }), 'invalid_signature');
      assert.equal(canaryHits, 0);
    } finally {
      await new Promise<void>((resolve) => canary.close(() => resolve()));
    }
  });

  it('answers jwks_unavailable when the issuer\'s keys cannot be fetched', async () => {
    const other = await startFakeIdentityProvider(['ES256']);
    try {
      const res = await t.agent.post('/admin/trusted-issuers').set('authorization', admin)
        .send({ issuer: other.issuer, jwks_uri: other.jwksUri, audiences: [AUDIENCE], algorithms: ['ES256'] });
      assert.equal(res.status, 201, res.text);
      other.setJwksStatus(500);
      await expectRejected(await other.sign({ sub: 'dave', aud: AUDIENCE }, { now: now() }), 'jwks_unavailable');
      other.setJwksStatus(200);
      assert.equal((await verify(await other.sign({ sub: 'dave', aud: AUDIENCE }, { now: now() }))).subject, 'dave', 'recovers once the IdP answers');
    } finally {
      await other.close();
    }
  });

  it('verifies against static keys, and keeps one registration object (so one jose key set) until that issuer changes', async () => {
    const offline = await startFakeIdentityProvider(['ES256']);
    await offline.close(); // its keys are registered, never fetched
    const res = await t.agent.post('/admin/trusted-issuers').set('authorization', admin)
      .send({ issuer: 'https://cluster.example', jwks: offline.publicJwks(), audiences: ['https://identity.example'], algorithms: ['ES256'], max_token_age: 3600 });
    assert.equal(res.status, 201, res.text);
    const signStatic = (claims: Record<string, unknown>, options: Parameters<FakeIdentityProvider['sign']>[1] = {}) =>
      offline.sign({ iss: 'https://cluster.example', sub: 'system:serviceaccount:shop:orders', aud: 'https://identity.example', ...claims }, { now: now(), ...options });
    const verified = await verify(await signStatic({}));
    assert.equal(verified.subject, 'system:serviceaccount:shop:orders');
    assert.equal(verified.issuer.jwksUri, null);
    const { privateKey } = await generateKeyPair('ES256');
    await expectRejected(await signStatic({}, { key: { privateKey, alg: 'ES256' }, kid: offline.publicJwks().keys[0]!.kid }), 'invalid_signature');
    await expectRejected(await signStatic({}, { key: { privateKey, alg: 'ES256' }, kid: 'other' }), 'unknown_key');
    await expectRejected(await signStatic({}, { key: forger, kid: 'other' }), 'alg_not_allowed');

    const registry = t.container.trustedIssuerRegistry;
    const held = await registry.find('https://cluster.example');
    await patchIssuer({ description: 'an unrelated change' });
    assert.equal(await registry.find('https://cluster.example'), held, 'another issuer\'s change keeps this one\'s object and keys');
    assert.equal((await verify(await signStatic({}))).issuer, held);
    const changed = await t.agent.patch(`/admin/trusted-issuers/${res.body.id}`).set('authorization', admin).send({ audiences: ['https://identity.example', 'x'] });
    assert.equal(changed.status, 200, changed.text);
    const fresh = await registry.find('https://cluster.example');
    assert.notEqual(fresh, held, 'its own change replaces it');
    assert.deepEqual(fresh?.audiences, ['https://identity.example', 'x']);
  });

  it('refuses to register this service\'s own issuer, in any spelling, and forgets a deleted issuer at once', async () => {
    for (const issuer of [t.config.issuer, `${t.config.issuer}/`, t.config.issuer.toUpperCase().replace('HTTP', 'http')]) {
      const res = await t.agent.post('/admin/trusted-issuers').set('authorization', admin)
        .send({ issuer, jwks_uri: t.config.jwksUri, audiences: [AUDIENCE] });
      const problem = expectProblemDocument(res, 400);
      assert.equal((problem.invalid_params as { name: string }[])[0]?.name, 'issuer', res.text);
    }
    const token = await sign({});
    assert.equal((await verify(token)).subject, 'alice');
    const res = await t.agent.delete(`/admin/trusted-issuers/${issuerId}`).set('authorization', admin);
    assert.equal(res.status, 204);
    await expectRejected(token, 'unknown_issuer');
  });
});
