import assert from 'node:assert/strict';
import { constants, createPrivateKey, createPublicKey, randomUUID, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, type JWK } from 'jose';
import * as client from 'openid-client';
import type { Response } from 'supertest';
import type { AuditEventType, AuditFilter, StoredAuditEvent } from '../../../src/audit/audit-event.ts';
import {
  CLIENT_ASSERTION_TYPE,
  compactJws,
  createSigningKey,
  defaultClaims,
  epochSeconds,
  hmacJws,
  segment,
  signAssertion,
  signJws,
  type AssertionOptions,
  type SigningKey,
} from '../../helpers/assertion.ts';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { createPki } from '../../helpers/pki.ts';
import { startTestService, type TestService } from '../../helpers/start-app.ts';
import { testDatabaseProvider } from '../../helpers/test-database.ts';
import { expectBearerTokenResponse } from '../../helpers/token-response.ts';

/** RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E. */
const DESCRIPTION_CHARS = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const INVALID_CLIENT_BODY = { error: 'invalid_client', error_description: 'client authentication failed' };
/** The jwks_uri cache's early-refetch cool-down (container.ts). */
const COOLDOWN_SECONDS = 30;

/** A plain HTTP server on 127.0.0.1 that counts the requests it receives. */
type CountingServer = { url: string; requests: () => number; close: () => Promise<void> };

async function startCountingServer(answer: () => unknown = () => ({})): Promise<CountingServer> {
  let count = 0;
  const server: Server = createServer((_req, res) => {
    count += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => count,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A port nothing listens on (a jwks_uri that cannot be reached). */
async function closedPort(): Promise<number> {
  const probe = await startCountingServer();
  await probe.close();
  return Number(new URL(probe.url).port);
}

function form(fields: Record<string, string>): string {
  return new URLSearchParams({ grant_type: 'client_credentials', ...fields }).toString();
}

/** Every audit event matching `filter`, newest first, read from the store page by page. */
async function allEvents(t: TestService, filter: AuditFilter): Promise<StoredAuditEvent[]> {
  const events: StoredAuditEvent[] = [];
  let cursor: string | undefined;
  do {
    const page = await t.container.uow.stores.audit.list(filter, { limit: 100, cursor });
    events.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return events;
}

async function eventsOf(t: TestService, res: Response, type: AuditEventType): Promise<StoredAuditEvent[]> {
  const requestId = res.headers['x-request-id'];
  assert.ok(requestId, 'every response names its request id');
  return (await t.auditEvents({ type })).filter((e) => e.requestId === requestId);
}

/**
 * The rejection contract R for an assertion: status, error, JSON, no-store, no Basic challenge, no
 * token, and exactly one token.denied with its reason (and the client it names, when given).
 */
async function expectRejected(
  t: TestService,
  res: Response,
  expected: { status: 400 | 401; reason: string; clientId?: string },
): Promise<void> {
  assert.equal(res.status, expected.status, res.text);
  assert.match(res.headers['content-type'] ?? '', /^application\/json(;|$)/);
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.equal(res.headers['www-authenticate'], undefined, 'no Basic challenge: Basic was not tried');
  if (expected.status === 401) {
    assert.deepEqual(res.body, INVALID_CLIENT_BODY);
  } else {
    assert.equal(res.body.error, 'invalid_request');
    assert.deepEqual(Object.keys(res.body).sort(), ['error', 'error_description']);
    assert.match(res.body.error_description, DESCRIPTION_CHARS);
  }
  assert.doesNotMatch(res.text, /access_token|eyJ|\bat \S+:\d+|node_modules|SELECT|\/dev\//);
  const denied = await eventsOf(t, res, 'token.denied');
  assert.equal(denied.length, 1, 'exactly one token.denied per refusal');
  assert.equal(denied[0]!.reason, expected.reason);
  assert.equal(denied[0]!.outcome, 'failure');
  if (expected.clientId !== undefined) assert.equal(denied[0]!.clientId, expected.clientId);
  assert.equal((await eventsOf(t, res, 'token.issued')).length, 0);
}

/** The success contract OK for an assertion `jwt`; returns the access token's claims. */
async function expectIssued(t: TestService, res: Response, clientId: string, jwt: string) {
  const claims = expectBearerTokenResponse(res);
  assert.equal(claims.sub, clientId);
  assert.equal(claims.client_id, clientId);
  const issued = await eventsOf(t, res, 'token.issued');
  assert.equal(issued.length, 1, 'exactly one token.issued per token');
  assert.equal(issued[0]!.authMethod, 'private_key_jwt');
  assert.equal(issued[0]!.clientId, clientId);
  assert.equal(issued[0]!.jti, claims.jti);
  assert.equal(issued[0]!.details?.assertion_jti, decodeJwt(jwt).jti, 'the assertion jti is audited');
  const [, , signature] = jwt.split('.');
  assert.ok(!JSON.stringify(issued[0]).includes(signature!), 'the assertion itself is never audited');
  return claims;
}

describe('POST /token with private_key_jwt (group B, RFC 7523)', () => {
  let t: TestService;
  let k1: SigningKey;
  let e1: SigningKey;
  let u1: SigningKey;
  let u2: SigningKey;
  let pinnedEc: SigningKey;
  let pinnedRsa: SigningKey;
  let attacker: SigningKey;
  /** What c-pkj-uri's jwks_uri serves; a test adds a key to it. */
  const served: JWK[] = [];
  let jwksServer: CountingServer;
  const canaries: CountingServer[] = [];
  /** Every assertion sent, for the final scan of logs and audit events. */
  const sent: string[] = [];

  before(async () => {
    [k1, e1, u1, u2, pinnedEc, pinnedRsa, attacker] = await Promise.all([
      createSigningKey('RS256', 'k1'),
      createSigningKey('ES256', 'e1'),
      createSigningKey('RS256', 'u1'),
      createSigningKey('RS256', 'u2'),
      createSigningKey('ES256', 'p-ec'),
      createSigningKey('RS256', 'p-rsa'),
      createSigningKey('RS256', 'attacker'),
    ]);
    served.push(u1.publicJwk);
    jwksServer = await startCountingServer(() => ({ keys: served }));
    canaries.push(await startCountingServer(), await startCountingServer());
    // The failure lockout is off: many cases fail on purpose for c-pkj; the lockout has its own suite.
    t = await startTestService({ ALLOW_INSECURE_JWKS_URI: 'true', RATE_LIMIT_AUTH_FAILURES: '0' });
    await t.registerClient({ client_id: 'c-basic' });
    const pkj = { token_endpoint_auth_method: 'private_key_jwt' };
    await t.registerClient({ ...pkj, client_id: 'c-pkj', jwks: { keys: [k1.publicJwk] }, token_endpoint_auth_signing_alg: 'RS256' });
    await t.registerClient({ ...pkj, client_id: 'c-pkj-ec', jwks: { keys: [e1.publicJwk] }, token_endpoint_auth_signing_alg: 'ES256' });
    await t.registerClient({ ...pkj, client_id: 'c-pkj-uri', jwks_uri: `${jwksServer.url}/jwks.json` });
    await t.registerClient({
      ...pkj, client_id: 'c-pkj-pinned', jwks: { keys: [pinnedEc.publicJwk, pinnedRsa.publicJwk] }, token_endpoint_auth_signing_alg: 'ES256',
    });
    await t.registerClient({ ...pkj, client_id: 'c-pkj-down', jwks_uri: `http://127.0.0.1:${await closedPort()}/jwks.json` });
  });
  after(async () => {
    await t.stop();
    await Promise.all([jwksServer, ...canaries].map((s) => s.close()));
  });

  /** The service's clock, in epoch seconds: some cases move it. */
  const now = () => epochSeconds(t.clock.now());

  /** A(…): an assertion for c-pkj signed with k1 unless the options say otherwise. */
  function assertion(opts: Partial<AssertionOptions> = {}): Promise<string> {
    return signAssertion({ clientId: 'c-pkj', audience: t.config.issuer, key: k1, now: now(), ...opts });
  }

  /** T{gt, CAT, client_assertion=jwt, …extra}; an extra field set to undefined is left out. */
  function send(jwt: string, extra: Record<string, string | undefined> = {}) {
    sent.push(jwt);
    const fields = Object.fromEntries(Object.entries({ client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: jwt, ...extra })
      .filter((entry): entry is [string, string] => entry[1] !== undefined));
    return t.agent.post('/token').type('form').send(form(fields));
  }

  const rejected = (res: Response, reason: string, clientId?: string) =>
    expectRejected(t, res, { status: 401, reason, ...(clientId !== undefined && { clientId }) });
  const badRequest = (res: Response, reason: string) => expectRejected(t, res, { status: 400, reason });

  it('AS-01 issues a token for an RS256 assertion, with and without client_id, auditing the jti and never the assertion', async () => {
    const jwt = await assertion();
    const res = await send(jwt);
    expectMatchesOpenApi(res, 'POST', '/token');
    const claims = await expectIssued(t, res, 'c-pkj', jwt);
    assert.equal(claims.aud, 'https://orders.internal');
    assert.equal(claims.scope, 'orders:read orders:write');

    const withId = await assertion();
    await expectIssued(t, await send(withId, { client_id: 'c-pkj' }), 'c-pkj', withId);
  });

  it('AS-01 issues a token for an ES256 (P-256) assertion of c-pkj-ec', async () => {
    const jwt = await assertion({ clientId: 'c-pkj-ec', key: e1 });
    await expectIssued(t, await send(jwt), 'c-pkj-ec', jwt);
  });

  it('AS-01 accepts the assertion openid-client v6 builds with PrivateKeyJwt (aud = issuer, nbf, no typ)', async () => {
    const config = await client.discovery(new URL(t.config.issuer), 'c-pkj', undefined, client.PrivateKeyJwt({ key: k1.privateKey, kid: 'k1' }), {
      execute: [client.allowInsecureRequests],
    });
    const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read' });
    assert.equal(tokens.token_type, 'bearer');
    assert.equal(tokens.scope, 'orders:read');
    assert.equal(tokens.expires_in, 900);
    const claims = decodeJwt(tokens.access_token);
    assert.equal(claims.client_id, 'c-pkj');
    const [issued] = await t.auditEvents({ type: 'token.issued', clientId: 'c-pkj' });
    assert.equal(issued?.jti, claims.jti);
    assert.equal(issued?.authMethod, 'private_key_jwt');
    assert.equal(typeof issued?.details?.assertion_jti, 'string');
  });

  it('AS-02 refuses the second use of an assertion as assertion_replayed', async () => {
    const jwt = await assertion();
    await expectIssued(t, await send(jwt), 'c-pkj', jwt);
    const replay = await send(jwt);
    expectMatchesOpenApi(replay, 'POST', '/token');
    await rejected(replay, 'assertion_replayed', 'c-pkj');
    // Naming the client in the body changes nothing.
    await rejected(await send(jwt, { client_id: 'c-pkj' }), 'assertion_replayed', 'c-pkj');
  });

  it('AS-02 lets exactly one of 20 concurrent copies of a fresh assertion through', async () => {
    const jwt = await assertion();
    const answers = await Promise.all(Array.from({ length: 20 }, () => send(jwt)));
    const ok = answers.filter((r) => r.status === 200);
    assert.equal(ok.length, 1, `statuses: ${answers.map((r) => r.status).join(',')}`);
    await expectIssued(t, ok[0]!, 'c-pkj', jwt);
    const replayIds = new Set(answers.filter((r) => r.status !== 200).map((r) => {
      assert.equal(r.status, 401, r.text);
      assert.deepEqual(r.body, INVALID_CLIENT_BODY);
      return r.headers['x-request-id'];
    }));
    const denied = (await allEvents(t, { type: 'token.denied', clientId: 'c-pkj' })).filter((e) => replayIds.has(e.requestId ?? ''));
    assert.equal(denied.length, 19);
    assert.ok(denied.every((e) => e.reason === 'assertion_replayed'));
    const jti = decodeJwt(jwt).jti;
    const issued = (await allEvents(t, { type: 'token.issued', clientId: 'c-pkj' })).filter((e) => e.details?.assertion_jti === jti);
    assert.equal(issued.length, 1);
  });

  it('AS-03 refuses an assertion missing jti, exp, iss, sub or aud, each with its own reason', async () => {
    const reasons = new Set<string>();
    for (const claim of ['jti', 'exp', 'iss', 'sub', 'aud']) {
      // Without sub the assertion no longer names its client: client_id does (RFC 7521 §4.2).
      const res = await send(await assertion({ claims: { [claim]: undefined } }), { client_id: 'c-pkj' });
      await rejected(res, `assertion_missing_${claim}`, 'c-pkj');
      reasons.add(`assertion_missing_${claim}`);
    }
    assert.equal(reasons.size, 5);
    // An assertion that names no client, sent without client_id, cannot be tied to a client at all.
    await badRequest(await send(await assertion({ claims: { sub: undefined } })), 'no_client_authentication');
    // A jti that is not a non-empty string counts as missing.
    for (const jti of [null, '', 42]) await rejected(await send(await assertion({ claims: { jti } })), 'assertion_missing_jti', 'c-pkj');
  });

  it('AS-04 refuses an assertion whose iss or sub names another client', async () => {
    await rejected(await send(await assertion({ claims: { iss: 'c-basic' } })), 'assertion_wrong_iss', 'c-pkj');
    // sub names the client: c-basic, which does not use private_key_jwt.
    await rejected(await send(await assertion({ claims: { sub: 'c-basic' } })), 'auth_method_mismatch', 'c-basic');
    await rejected(await send(await assertion({ claims: { iss: 'c-basic', sub: 'c-basic' } })), 'auth_method_mismatch', 'c-basic');
    // RFC 7521 §4.2: with client_id=c-pkj the assertion names another client: a malformed request.
    await badRequest(await send(await assertion({ claims: { iss: 'c-basic', sub: 'c-basic' } }), { client_id: 'c-pkj' }), 'client_id_mismatch');
    await badRequest(await send(await assertion({ claims: { sub: 'c-basic' } }), { client_id: 'c-pkj' }), 'client_id_mismatch');
  });

  it('AS-05 refuses a client_id parameter that names another client than the assertion, for both clients', async () => {
    const res = await send(await assertion(), { client_id: 'c-basic' });
    expectMatchesOpenApi(res, 'POST', '/token');
    await badRequest(res, 'client_id_mismatch');
    const issuedAfter = (await t.auditEvents({ type: 'token.issued' })).filter((e) => e.requestId === res.headers['x-request-id']);
    assert.equal(issuedAfter.length, 0);
  });

  it('AS-06 accepts only the issuer or the token endpoint, as one string compared exactly', async () => {
    const issuer = t.config.issuer;
    // This service has no "strict mode": API.md §2 accepts aud = the issuer (RFC 7523bis) or the token
    // endpoint URL (older clients), always as a single string and never as an array. So the case's
    // "strict mode" rows become: the token endpoint is accepted, and every array is refused.
    for (const aud of [issuer, `${issuer}/token`]) {
      const jwt = await assertion({ claims: { aud } });
      await expectIssued(t, await send(jwt), 'c-pkj', jwt);
    }
    const refused: unknown[] = [
      'https://other-as.example',
      [issuer],
      [`${issuer}/token`],
      [issuer, 'https://evil'],
      [issuer, null],
      `${issuer}/`,
      `${issuer}/token/`,
      issuer.toUpperCase(),
      `${issuer}?x=1`,
      '',
      null,
      42,
    ];
    for (const aud of refused) {
      const res = await send(await assertion({ claims: { aud } }));
      assert.equal(res.status, 401, `aud ${JSON.stringify(aud)}: ${res.text}`);
      await rejected(res, 'assertion_wrong_aud', 'c-pkj');
    }
  });

  it('AS-07 enforces the time window: expired, too far ahead, too old, not yet valid, non-numeric', async () => {
    const n = now();
    const cases: [Record<string, unknown>, string][] = [
      [{ exp: n - 300 }, 'assertion_expired'],
      [{ exp: n + 86400 }, 'assertion_exp_too_far'],
      [{ iat: n - 31 * 86400 }, 'assertion_too_old'],
      // Well past the 60 s allowance, so a slow machine between signing and sending cannot let it through.
      [{ nbf: n + 120, iat: n + 120, exp: n + 180 }, 'assertion_not_yet_valid'],
      [{ exp: '9999999999' }, 'assertion_wrong_exp'],
      [{ nbf: 'now' }, 'assertion_not_yet_valid'],
    ];
    for (const [claims, reason] of cases) await rejected(await send(await assertion({ claims })), reason, 'c-pkj');
    // Within the clock-skew allowance: issued 8 s in the future, and a 5-minute lifetime.
    for (const claims of [{ nbf: n + 8, iat: n + 8, exp: n + 68 }, { exp: n + 300 }]) {
      const jwt = await assertion({ claims });
      await expectIssued(t, await send(jwt), 'c-pkj', jwt);
    }
  });

  it('AS-08 refuses alg none in every spelling', async () => {
    for (const alg of ['none', 'None', 'NONE']) {
      const claims = defaultClaims('c-pkj', t.config.issuer, now());
      const unsecured = compactJws({ alg, typ: 'client-authentication+jwt' }, claims, '');
      await rejected(await send(unsecured), 'assertion_malformed', 'c-pkj');
      await rejected(await send(unsecured, { client_id: 'c-pkj' }), 'assertion_malformed', 'c-pkj');
      // The same with some signature text, so only the alg is wrong.
      await rejected(await send(compactJws({ alg, kid: 'k1' }, claims, 'AAAA')), 'assertion_alg_not_allowed', 'c-pkj');
    }
  });

  it('AS-09 refuses HS256 keyed with the client public key as PEM, DER or JWK JSON', async () => {
    const publicKey = createPublicKey({ key: k1.publicJwk as never, format: 'jwk' });
    const secrets = [
      publicKey.export({ type: 'spki', format: 'pem' }) as string,
      publicKey.export({ type: 'spki', format: 'der' }),
      JSON.stringify(k1.publicJwk),
    ];
    for (const secret of secrets) {
      const jwt = hmacJws({ alg: 'HS256', kid: 'k1', typ: 'client-authentication+jwt' }, defaultClaims('c-pkj', t.config.issuer, now()), secret);
      await rejected(await send(jwt), 'assertion_alg_not_allowed', 'c-pkj');
    }
  });

  it('AS-10 holds a client to its registered signing alg and refuses an all-zero ECDSA signature', async () => {
    const pinned = { clientId: 'c-pkj-pinned' };
    // RS256 with the client's own registered RSA key, while the client is registered for ES256.
    await rejected(await send(await assertion({ ...pinned, key: pinnedRsa })), 'assertion_alg_not_allowed', 'c-pkj-pinned');
    const ok = await assertion({ ...pinned, key: pinnedEc });
    await expectIssued(t, await send(ok), 'c-pkj-pinned', ok);
    // PS256 with k1 (RSA-PSS over the same key) is not c-pkj's RS256.
    const psHeader = { alg: 'PS256', kid: 'k1', typ: 'client-authentication+jwt' };
    const psInput = `${segment(psHeader)}.${segment(defaultClaims('c-pkj', t.config.issuer, now()))}`;
    const psSignature = sign('sha256', Buffer.from(psInput), {
      key: createPrivateKey({ key: k1.privateJwk as never, format: 'jwk' }), padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32,
    });
    await rejected(await send(`${psInput}.${psSignature.toString('base64url')}`), 'assertion_alg_not_allowed', 'c-pkj');
    // CVE-2022-21449: r = s = 0.
    const psychic = compactJws({ alg: 'ES256', kid: 'e1', typ: 'client-authentication+jwt' }, defaultClaims('c-pkj-ec', t.config.issuer, now()), new Uint8Array(64));
    await rejected(await send(psychic), 'assertion_bad_signature', 'c-pkj-ec');
  });

  it('AS-11 never takes a key from jwk, jku, x5u or x5c headers, and never fetches a header URL', async () => {
    const [canary, attackerSite] = canaries;
    const urls = [`${canary!.url}/`, 'http://169.254.169.254/latest/', `${attackerSite!.url}/jwks.json`];
    const signedByAttacker = (header: Record<string, unknown>) => assertion({ header: { kid: undefined, ...header }, signWith: attacker.privateKey });
    // (a) The attacker's public key embedded in the header, with and without a kid.
    await rejected(await send(await signedByAttacker({ jwk: attacker.publicJwk })), 'assertion_bad_signature', 'c-pkj');
    await rejected(await send(await signedByAttacker({ jwk: attacker.publicJwk, kid: 'k1' })), 'assertion_bad_signature', 'c-pkj');
    await rejected(await send(await signedByAttacker({ jwk: attacker.publicJwk, kid: 'attacker' })), 'assertion_unknown_key', 'c-pkj');
    // (b), (c) jku and x5u, for a jwks client and a jwks_uri client.
    for (const url of urls) {
      for (const member of ['jku', 'x5u']) {
        await rejected(await send(await signedByAttacker({ [member]: url, kid: 'attacker' })), 'assertion_unknown_key', 'c-pkj');
        await rejected(await send(await signedByAttacker({ [member]: url })), 'assertion_bad_signature', 'c-pkj');
      }
    }
    // (d) An attacker's own self-signed certificate and its key.
    const pki = createPki();
    try {
      const cert = pki.selfSigned({ subject: '/CN=c-pkj' });
      const jwt = await assertion({ header: { kid: undefined, x5c: [cert.der.toString('base64')] }, signWith: createPrivateKey(cert.keyPem) });
      await rejected(await send(jwt), 'assertion_bad_signature', 'c-pkj');
    } finally {
      pki.cleanup();
    }
    assert.equal(canary!.requests(), 0, 'the 127.0.0.1 canary received no request');
    assert.equal(attackerSite!.requests(), 0, 'the attacker URL received no request');
  });

  it('AS-12 refuses injected kids without a 5xx or internals in the answer', async () => {
    const kids: unknown[] = ['../../../../dev/null', "' OR '1'='1", 'k1\u0000', 'x'.repeat(10_000), { $ne: null }];
    for (const kid of kids) {
      const claims = defaultClaims('c-pkj', t.config.issuer, now());
      const unregistered = await signJws({ alg: 'RS256', kid, typ: 'client-authentication+jwt' }, claims, attacker.privateKey);
      await rejected(await send(unregistered), 'assertion_unknown_key', 'c-pkj');
      await rejected(await send(hmacJws({ alg: 'HS256', kid }, claims, '')), 'assertion_alg_not_allowed', 'c-pkj');
    }
  });

  it('AS-12 refetches a jwks_uri at most once per cool-down, whatever the number of unknown kids', async () => {
    const viaUri = (kid: string) => assertion({ clientId: 'c-pkj-uri', key: u1, header: { kid }, signWith: attacker.privateKey });
    const randomKids = async () => {
      const answers = await Promise.all(Array.from({ length: 100 }, async () => send(await viaUri(randomUUID()))));
      for (const res of answers) {
        assert.equal(res.status, 401, res.text);
        assert.deepEqual(res.body, INVALID_CLIENT_BODY);
      }
      const ids = new Set(answers.map((r) => r.headers['x-request-id']));
      const denied = (await allEvents(t, { type: 'token.denied', clientId: 'c-pkj-uri' })).filter((e) => ids.has(e.requestId ?? ''));
      assert.equal(denied.length, 100);
      assert.ok(denied.every((e) => e.reason === 'assertion_unknown_key'), JSON.stringify([...new Set(denied.map((e) => e.reason))]));
    };

    const first = await assertion({ clientId: 'c-pkj-uri', key: u1 });
    await expectIssued(t, await send(first), 'c-pkj-uri', first);
    const fetched = jwksServer.requests();
    assert.ok(fetched >= 1, 'the jwks_uri was fetched');

    // Within the cool-down of that fetch: no refetch at all.
    await randomKids();
    assert.equal(jwksServer.requests(), fetched);
    // After the cool-down, 100 concurrent unknown kids share a single refetch.
    t.clock.advance(COOLDOWN_SECONDS + 1);
    await randomKids();
    assert.equal(jwksServer.requests(), fetched + 1);
    await randomKids();
    assert.equal(jwksServer.requests(), fetched + 1);
  });

  it('AS-12 picks up a key added to the jwks_uri once the cool-down has passed (client key rotation)', async () => {
    served.push(u2.publicJwk);
    t.clock.advance(COOLDOWN_SECONDS + 1);
    const before = jwksServer.requests();
    const jwt = await assertion({ clientId: 'c-pkj-uri', key: u2 });
    await expectIssued(t, await send(jwt), 'c-pkj-uri', jwt);
    assert.equal(jwksServer.requests(), before + 1);
    // The old key still works, from the cache.
    const old = await assertion({ clientId: 'c-pkj-uri', key: u1 });
    await expectIssued(t, await send(old), 'c-pkj-uri', old);
    assert.equal(jwksServer.requests(), before + 1);
  });

  it('AS-12 refuses an assertion of a client whose jwks_uri cannot be reached as jwks_uri_unreachable', async () => {
    await rejected(await send(await assertion({ clientId: 'c-pkj-down', key: u1 })), 'jwks_uri_unreachable', 'c-pkj-down');
  });

  it('AS-13 refuses malformed and non-compact assertions quickly, without PBES2 work or a 5xx', async () => {
    const claims = defaultClaims('c-pkj', t.config.issuer, now());
    const good = await assertion();
    const [h, p, s] = good.split('.') as [string, string, string];
    const jwe = [segment({ alg: 'PBES2-HS256+A128KW', enc: 'A128GCM', p2c: 2147483647, p2s: 'AAAAAAAAAAAAAAAAAAAAAA' }), 'AAAA', 'AAAA', 'AAAA', 'AAAA'].join('.');
    const malformed = [
      'abc',
      `${h}.${p}`,
      `${h}.${p}.${s}.${s}`,
      jwe,
      JSON.stringify({ protected: h, payload: p, signature: s }),
      compactJws(null, claims, s),
      `${segment('[]')}.${p}.${s}`,
      `${segment('"x"')}.${p}.${s}`,
      `${h}=.${p}.${s}`,
      `${h}.${p}.${s}==`,
      `${h}.${p}.${s.slice(0, -1)}+`,
      `a.${p}.${s}`,
      await assertion({ header: { crit: ['x-ext'], 'x-ext': 1 } }),
    ];
    const elapsed: number[] = [];
    for (const jwt of malformed) {
      const started = performance.now();
      const res = await send(jwt, { client_id: 'c-pkj' });
      elapsed.push(performance.now() - started);
      await rejected(res, 'assertion_malformed', 'c-pkj');
    }
    elapsed.sort((a, b) => a - b);
    // PBKDF2 at p2c 2^31 would take minutes: the bound only has to tell that from a refusal, with
    // all the room a busy test machine needs (an fsync or a pause can hold a request for a second).
    assert.ok(elapsed.at(-1)! < 10_000, `slowest ${elapsed.at(-1)} ms`);
    // Without client_id, an assertion that cannot even be read names no client: a malformed request.
    await badRequest(await send(jwe), 'no_client_authentication');
    // Two client_assertion parameters (RFC 6749 §3.2).
    const twice = `${form({ client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: good })}&client_assertion=${good}`;
    await badRequest(await t.agent.post('/token').type('form').send(twice), 'duplicate_parameter');
  });

  it('AS-14 refuses our own access token and any other JWT type as an assertion; typ may be absent', async () => {
    const jwt = await assertion();
    const accessToken = (await send(jwt)).body.access_token as string;
    assert.equal(decodeJwt(accessToken).sub, 'c-pkj');
    await rejected(await send(accessToken), 'assertion_wrong_typ', 'c-pkj');
    for (const typ of ['at+jwt', 'dpop+jwt', 'application/at+jwt', 'JOSE', 42]) {
      await rejected(await send(await assertion({ header: { typ } })), 'assertion_wrong_typ', 'c-pkj');
    }
    // draft-ietf-oauth-rfc7523bis: a missing typ must not be refused; JWT is the generic type.
    for (const typ of [undefined, 'JWT', 'application/client-authentication+jwt']) {
      const ok = await assertion({ header: { typ } });
      await expectIssued(t, await send(ok), 'c-pkj', ok);
    }
  });

  it('AS-15 refuses an unregistered key with a registered kid, a client without keys, an unknown client and a wrong assertion type', async () => {
    await rejected(await send(await assertion({ signWith: attacker.privateKey })), 'assertion_bad_signature', 'c-pkj');
    await rejected(await send(await assertion({ clientId: 'c-basic' })), 'auth_method_mismatch', 'c-basic');
    await rejected(await send(await assertion({ clientId: 'nosuch' })), 'unknown_client', 'nosuch');
    const jwt = await assertion();
    await badRequest(await send(jwt, { client_assertion_type: undefined }), 'malformed_credentials');
    await badRequest(await send(jwt, { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer' }), 'malformed_credentials');
    await badRequest(await send(jwt, { client_assertion_type: '' }), 'malformed_credentials');
    // The refusals above did not spend the assertion's jti.
    await expectIssued(t, await send(jwt), 'c-pkj', jwt);
  });

  it('AD-04 accepts a loopback http jwks_uri only because ALLOW_INSECURE_JWKS_URI is true, and never file:', async () => {
    const base = { client_name: 'x', token_endpoint_auth_method: 'private_key_jwt', scope: 'orders:read', audience: ['https://orders.internal'] };
    const admin = `Bearer ${await t.adminToken()}`;
    const local = await t.agent.post('/admin/clients').set('authorization', admin).send({ ...base, jwks_uri: 'http://127.0.0.1:1/jwks.json' });
    assert.equal(local.status, 201, local.text);
    const file = await t.agent.post('/admin/clients').set('authorization', admin).send({ ...base, jwks_uri: 'file:///etc/passwd' });
    assert.equal(file.status, 400, file.text);
    assert.deepEqual(file.body.invalid_params.map((p: { name: string }) => p.name), ['jwks_uri']);
  });

  it('AS-01 never writes an assertion into a log line or an audit event', async () => {
    assert.ok(sent.length > 100);
    const logs = t.logLines.join('\n');
    const audit = JSON.stringify(await allEvents(t, {}));
    for (const jwt of sent) {
      // The signature part identifies an assertion; short forged ones are skipped (they match anything).
      const signature = jwt.split('.')[2] ?? '';
      const needle = signature.length >= 32 ? signature : jwt.length >= 32 ? jwt : undefined;
      if (needle === undefined) continue;
      assert.ok(!logs.includes(needle), 'an assertion appears in a log line');
      assert.ok(!audit.includes(needle), 'an assertion appears in an audit event');
    }
  });
});

describe('AD-04 private_key_jwt registration checks (ALLOW_INSECURE_JWKS_URI unset)', () => {
  let t: TestService;
  let key: SigningKey;
  const base = { client_name: 'x', token_endpoint_auth_method: 'private_key_jwt', scope: 'orders:read', audience: ['https://orders.internal'] };

  before(async () => {
    key = await createSigningKey('RS256', 'k1');
    t = await startTestService();
  });
  after(() => t.stop());

  async function register(body: Record<string, unknown>) {
    return t.agent.post('/admin/clients').set('authorization', `Bearer ${await t.adminToken()}`).send({ ...base, ...body });
  }

  async function expectInvalid(body: Record<string, unknown>, field: string) {
    const res = await register(body);
    assert.equal(res.status, 400, `${JSON.stringify(body).slice(0, 200)}: ${res.text}`);
    assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json(;|$)/);
    expectMatchesOpenApi(res, 'POST', '/admin/clients');
    const names = (res.body.invalid_params as { name: string }[]).map((p) => p.name);
    assert.ok(names.includes(field), `invalid_params names ${field}: ${JSON.stringify(res.body.invalid_params)}`);
    assert.doesNotMatch(res.text, /"d":|AAAA|c2VjcmV0/, 'key material is not echoed');
    return res;
  }

  it('AD-04 (a) refuses private_key_jwt with neither jwks nor jwks_uri, or with both', async () => {
    await expectInvalid({}, 'jwks | jwks_uri');
    await expectInvalid({ jwks: { keys: [key.publicJwk] }, jwks_uri: 'https://keys.example/jwks.json' }, 'jwks | jwks_uri');
    await expectInvalid({ jwks: { keys: [] } }, 'jwks');
    await expectInvalid({ jwks: [key.publicJwk] }, 'jwks');
  });

  it('AD-04 (b) refuses a jwks holding a private member or a symmetric key', async () => {
    await expectInvalid({ jwks: { keys: [{ ...key.publicJwk, d: 'AAAA' }] } }, 'jwks');
    await expectInvalid({ jwks: { keys: [key.privateJwk] } }, 'jwks');
    await expectInvalid({ jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'h1' }] } }, 'jwks');
    await expectInvalid({ jwks: { keys: [{ ...key.publicJwk, alg: 'HS256' }] } }, 'jwks');
  });

  it('AD-04 (d) refuses jwks_uri values that point at metadata, loopback or private addresses, or are not https', async () => {
    for (const jwksUri of [
      'http://169.254.169.254/latest/meta-data/',
      'http://localhost/jwks.json',
      'file:///etc/passwd',
      'https://localhost/jwks.json',
      'https://127.0.0.1/jwks.json',
      'https://10.0.0.1/jwks.json',
      'https://[::1]/jwks.json',
      'http://keys.example/jwks.json',
      'https://user:pw@keys.example/jwks.json',
      'keys.example/jwks.json',
    ]) await expectInvalid({ jwks_uri: jwksUri }, 'jwks_uri');
  });

  it('AD-04 refuses HS256 or none as token_endpoint_auth_signing_alg, and accepts a valid registration', async () => {
    await expectInvalid({ jwks: { keys: [key.publicJwk] }, token_endpoint_auth_signing_alg: 'HS256' }, 'token_endpoint_auth_signing_alg');
    await expectInvalid({ jwks: { keys: [key.publicJwk] }, token_endpoint_auth_signing_alg: 'none' }, 'token_endpoint_auth_signing_alg');
    const ok = await register({ jwks: { keys: [key.publicJwk] }, token_endpoint_auth_signing_alg: 'RS256' });
    assert.equal(ok.status, 201, ok.text);
    expectMatchesOpenApi(ok, 'POST', '/admin/clients');
    assert.equal(ok.body.client_secret, undefined, 'a key-based client gets no secret');
    const uri = await register({ jwks_uri: 'https://keys.example/jwks.json' });
    assert.equal(uri.status, 201, uri.text);
  });
});

describe('AS-02 assertion replay across two instances sharing one PostgreSQL database', { skip: testDatabaseProvider() !== 'postgresql' && 'needs DATABASE_URL=postgresql://…' }, () => {
  let a: TestService;
  let b: TestService;
  let k1: SigningKey;

  before(async () => {
    k1 = await createSigningKey('RS256', 'k1');
    const env = { RATE_LIMIT_AUTH_FAILURES: '0' };
    a = await startTestService(env);
    // One deployment: same database, key-encryption key and issuer.
    b = await startTestService({ ...env, ISSUER: a.config.issuer }, { database: a.database, keysDir: a.keysDir });
    await a.registerClient({ client_id: 'c-pkj', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [k1.publicJwk] } });
  });
  after(async () => {
    await b.stop();
    await a.stop();
  });

  it('AS-02 lets exactly one of 20 concurrent copies through across both instances', async () => {
    const jwt = await signAssertion({ clientId: 'c-pkj', audience: a.config.issuer, key: k1 });
    const body = form({ client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: jwt });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? b : a).agent.post('/token').type('form').send(body)));
    assert.equal(answers.filter((r) => r.status === 200).length, 1, `statuses: ${answers.map((r) => r.status).join(',')}`);
    for (const res of answers.filter((r) => r.status !== 200)) {
      assert.equal(res.status, 401, res.text);
      assert.deepEqual(res.body, INVALID_CLIENT_BODY);
    }
    const denied = await allEvents(a, { type: 'token.denied', clientId: 'c-pkj' });
    assert.equal(denied.filter((e) => e.reason === 'assertion_replayed').length, 19);
  });
});
