import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { calculateJwkThumbprint, decodeJwt, exportJWK } from 'jose';
import * as client from 'openid-client';
import type { Response } from 'supertest';
import type { AuditEventType } from '../../../src/audit/audit-event.ts';
import {
  CLIENT_ASSERTION_TYPE,
  compactJws,
  createSigningKey,
  epochSeconds,
  hmacJws,
  jwkThumbprint,
  signAssertion,
  signDpopProof,
  type DpopProofOptions,
  type SigningKey,
} from '../../helpers/assertion.ts';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { startTestService, type RegisteredClient, type TestService } from '../../helpers/start-app.ts';

/** RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E. */
const DESCRIPTION_CHARS = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

describe('POST /token with a DPoP proof (RFC 9449)', () => {
  let t: TestService;
  let basic: RegisteredClient;
  let other: RegisteredClient;
  let ec: SigningKey;
  let rsa: SigningKey;
  let k1: SigningKey;

  before(async () => {
    [ec, rsa, k1] = await Promise.all([createSigningKey('ES256'), createSigningKey('RS256'), createSigningKey('RS256', 'k1')]);
    t = await startTestService({ RATE_LIMIT_AUTH_FAILURES: '0' });
    basic = await t.registerClient({ client_id: 'c-dpop' });
    other = await t.registerClient({ client_id: 'c-dpop-2' });
    await t.registerClient({ client_id: 'c-pkj', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [k1.publicJwk] } });
  });
  after(() => t.stop());

  const now = () => epochSeconds(t.clock.now());
  const tokenEndpoint = () => `${t.config.issuer}/token`;

  function proof(opts: Partial<DpopProofOptions> = {}): Promise<string> {
    return signDpopProof({ key: ec, htu: tokenEndpoint(), now: now(), ...opts });
  }

  /** T{gt} as c-dpop (client_secret_basic) with the DPoP header, if any. */
  function send(dpop: string | undefined, who: RegisteredClient = basic) {
    const req = t.agent.post('/token').auth(who.clientId, who.secret).type('form');
    if (dpop !== undefined) req.set('DPoP', dpop);
    return req.send('grant_type=client_credentials');
  }

  async function eventsOf(res: Response, type: AuditEventType) {
    const requestId = res.headers['x-request-id'];
    assert.ok(requestId, 'every response names its request id');
    return (await t.auditEvents({ type })).filter((e) => e.requestId === requestId);
  }

  /** RFC 9449 §5: 400 invalid_dpop_proof, no token, exactly one token.denied with its dpop_ reason. */
  async function expectInvalidProof(res: Response, reason: string, clientId = 'c-dpop') {
    assert.equal(res.status, 400, res.text);
    expectMatchesOpenApi(res, 'POST', '/token');
    assert.match(res.headers['content-type'] ?? '', /^application\/json(;|$)/);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['www-authenticate'], undefined);
    assert.deepEqual(Object.keys(res.body).sort(), ['error', 'error_description']);
    assert.equal(res.body.error, 'invalid_dpop_proof');
    assert.match(res.body.error_description, DESCRIPTION_CHARS);
    assert.doesNotMatch(res.text, /access_token|eyJ|\bat \S+:\d+|node_modules/);
    const denied = await eventsOf(res, 'token.denied');
    assert.equal(denied.length, 1, 'exactly one token.denied per refusal');
    assert.equal(denied[0]!.reason, reason);
    assert.match(denied[0]!.reason ?? '', /^dpop_/);
    assert.equal(denied[0]!.clientId, clientId);
    assert.equal((await eventsOf(res, 'token.issued')).length, 0);
  }

  /** A DPoP-bound token (RFC 9449 §5, §6.1): token_type DPoP and cnf.jkt = the proof key's thumbprint. */
  async function expectBound(res: Response, key: SigningKey, clientId = 'c-dpop') {
    assert.equal(res.status, 200, res.text);
    expectMatchesOpenApi(res, 'POST', '/token');
    assert.deepEqual(Object.keys(res.body).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
    assert.equal(res.body.token_type, 'DPoP');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers.pragma, 'no-cache');
    const claims = decodeJwt(res.body.access_token as string);
    const jkt = await jwkThumbprint(key);
    assert.deepEqual(claims.cnf, { jkt });
    assert.equal(claims.client_id, clientId);
    const issued = await eventsOf(res, 'token.issued');
    assert.equal(issued.length, 1);
    assert.equal(issued[0]!.details?.jkt, jkt);
    return claims;
  }

  it('binds the token to the proof key: token_type DPoP and cnf.jkt is its JWK thumbprint (ES256 and RS256)', async () => {
    await expectBound(await send(await proof()), ec);
    await expectBound(await send(await proof({ key: rsa })), rsa);
    // Without a proof the token stays a Bearer token with no cnf.
    const bearer = await send(undefined);
    assert.equal(bearer.status, 200, bearer.text);
    assert.equal(bearer.body.token_type, 'Bearer');
    assert.equal(decodeJwt(bearer.body.access_token).cnf, undefined);
  });

  it('binds a private_key_jwt client token too', async () => {
    const assertion = await signAssertion({ clientId: 'c-pkj', audience: t.config.issuer, key: k1, now: now() });
    const res = await t.agent.post('/token').type('form').set('DPoP', await proof())
      .send(new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion }).toString());
    await expectBound(res, ec, 'c-pkj');
  });

  it('ignores the query and fragment of htu, and accepts an iat within the allowed window (RFC 9449 §4.3)', async () => {
    await expectBound(await send(await proof({ claims: { htu: `${tokenEndpoint()}?x=1#f` } })), ec);
    await expectBound(await send(await proof({ claims: { iat: now() - 50 } })), ec);
    await expectBound(await send(await proof({ claims: { iat: now() + 50 } })), ec);
  });

  it('refuses a proof for another method (htm)', async () => {
    for (const htm of ['GET', 'post', 'PUT']) await expectInvalidProof(await send(await proof({ htm })), 'dpop_wrong_htm');
  });

  it('refuses a proof for another URL (htu)', async () => {
    const issuer = t.config.issuer;
    for (const htu of [`${issuer}/introspect`, `${issuer}/token/`, `${issuer}/`, 'https://other.example/token', issuer.replace('http:', 'https:') + '/token']) {
      await expectInvalidProof(await send(await proof({ claims: { htu } })), 'dpop_wrong_htu');
    }
  });

  it('refuses a stale or future iat', async () => {
    for (const iat of [now() - 300, now() - 61 - 5, now() + 300]) await expectInvalidProof(await send(await proof({ claims: { iat } })), 'dpop_stale');
  });

  it('refuses a proof missing jti, htm, htu or iat', async () => {
    for (const claim of ['jti', 'htm', 'htu', 'iat']) {
      await expectInvalidProof(await send(await proof({ claims: { [claim]: undefined } })), `dpop_missing_${claim}`);
    }
    await expectInvalidProof(await send(await proof({ claims: { jti: 42 } })), 'dpop_missing_jti');
    await expectInvalidProof(await send(await proof({ claims: { iat: 'now' } })), 'dpop_wrong_iat');
  });

  it('refuses a replayed proof, also for another client', async () => {
    const once = await proof();
    await expectBound(await send(once), ec);
    await expectInvalidProof(await send(once), 'dpop_replayed');
    await expectInvalidProof(await send(once, other), 'dpop_replayed', 'c-dpop-2');
  });

  it('refuses a private key in the header jwk', async () => {
    const { kid: _kid, use: _use, ...privateJwk } = ec.privateJwk;
    await expectInvalidProof(await send(await proof({ header: { jwk: privateJwk } })), 'dpop_malformed');
  });

  it('refuses HS256 and none', async () => {
    const { kid: _kid, use: _use, alg: _alg, ...jwk } = ec.publicJwk;
    const claims = { jti: crypto.randomUUID(), htm: 'POST', htu: tokenEndpoint(), iat: now() };
    await expectInvalidProof(await send(hmacJws({ typ: 'dpop+jwt', alg: 'HS256', jwk }, claims, 'secret')), 'dpop_alg_not_allowed');
    await expectInvalidProof(await send(compactJws({ typ: 'dpop+jwt', alg: 'none', jwk }, claims, '')), 'dpop_alg_not_allowed');
  });

  it('refuses a typ other than dpop+jwt, a missing typ, and a proof signed by another key than its jwk', async () => {
    for (const typ of ['jwt', 'at+jwt', 'client-authentication+jwt', undefined]) {
      await expectInvalidProof(await send(await proof({ header: { typ } })), 'dpop_wrong_typ');
    }
    // An RS256 signature with an EC key in jwk: the key cannot even be used for the alg.
    await expectInvalidProof(await send(await proof({ signWith: rsa.privateKey, header: { alg: 'RS256' } })), 'dpop_malformed');
    await expectInvalidProof(await send(await proof({ key: ec, signWith: (await createSigningKey('ES256')).privateKey })), 'dpop_bad_signature');
    await expectInvalidProof(await send('abc'), 'dpop_malformed');
  });

  it('works with openid-client v6 DPoP handles', async () => {
    const config = await client.discovery(new URL(t.config.issuer), basic.clientId, undefined, client.ClientSecretBasic(basic.secret), {
      execute: [client.allowInsecureRequests],
    });
    const keyPair = await client.randomDPoPKeyPair('ES256');
    const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read' }, { DPoP: client.getDPoPHandle(config, keyPair) });
    assert.equal(tokens.token_type, 'dpop');
    assert.equal(tokens.scope, 'orders:read');
    const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey), 'sha256');
    assert.deepEqual(decodeJwt(tokens.access_token).cnf, { jkt });
  });
});
