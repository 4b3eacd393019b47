import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPair as generateNodeKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors as joseErrors, exportJWK, jwtVerify, type JSONWebKeySet, type JWK } from 'jose';
import pg from 'pg';
import type { Response } from 'supertest';
import type { SigningKeyRecord } from '../../../src/keys/signing-key.ts';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { startTestService, type RegisteredClient, type TestService } from '../../helpers/start-app.ts';
import { expectProblemDocument } from '../../helpers/problem.ts';
import { adminBearer, listKeys, type KeyInfo } from '../../helpers/admin-keys.ts';

const JWKS = '/.well-known/jwks.json';
const ORDERS = 'https://orders.internal';
const KEY_EVENT_TYPES = ['key.created', 'key.activated', 'key.retired', 'key.revoked'] as const;
const KEY_INFO_MEMBERS = ['activated_at', 'alg', 'created_at', 'expires_at', 'kid', 'retired_at', 'revoked_at', 'state'];
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

type KeyEvent = { id: string; type: string; kid: string | undefined; requestId: string | undefined; details: Record<string, unknown> | undefined };

const bearer = adminBearer;

const inState = (keys: KeyInfo[], state: string) => keys.filter((k) => k.state === state);

function onlyInState(keys: KeyInfo[], state: string): KeyInfo {
  const found = inState(keys, state);
  assert.equal(found.length, 1, `exactly one ${state} key: ${JSON.stringify(keys)}`);
  return found[0]!;
}

async function fetchJwks(t: TestService, ifNoneMatch?: string) {
  const req = t.agent.get(JWKS);
  if (ifNoneMatch) req.set('if-none-match', ifNoneMatch);
  const res = await req;
  const maxAge = Number(/max-age=(\d+)/.exec(res.headers['cache-control'] ?? '')?.[1]);
  const jwks = res.status === 200 ? JSON.parse(res.text) as JSONWebKeySet : undefined;
  return { res, status: res.status, etag: res.headers.etag as string, maxAge, jwks: jwks!, kids: jwks ? jwks.keys.map((k) => k.kid!) : [] };
}

async function rotate(t: TestService): Promise<Response> {
  return t.agent.post('/admin/keys/rotate').set('authorization', await bearer(t));
}

async function revoke(t: TestService, kid: string): Promise<Response> {
  return t.agent.post(`/admin/keys/${encodeURIComponent(kid)}/revoke`).set('authorization', await bearer(t));
}

/** Moves the service clock past the pre-publication of the current next key, so a manual rotation is allowed. */
function passPrepublication(t: TestService): void {
  t.clock.advance(t.config.keyPrepublish + 1);
}

/** Checks a token the way a resource server does, against a given key set, at the service's time. */
async function verifyAgainst(t: TestService, token: string, jwks: JSONWebKeySet, at = t.clock.now()) {
  return jwtVerify(token, createLocalJWKSet(jwks), { issuer: t.config.issuer, audience: ORDERS, typ: 'at+jwt', currentDate: at });
}

const kidOf = (token: string) => decodeProtectedHeader(token).kid!;

async function keyEvents(t: TestService): Promise<KeyEvent[]> {
  const lists = await Promise.all(KEY_EVENT_TYPES.map((type) => t.auditEvents({ type })));
  return lists.flat().map((e) => ({ id: e.id, type: e.type, kid: e.kid, requestId: e.requestId, details: e.details }));
}

/** The key events written since `before`, as "type kid" strings in a stable order. */
function newKeyEvents(before: KeyEvent[], afterwards: KeyEvent[]): string[] {
  const seen = new Set(before.map((e) => e.id));
  return afterwards.filter((e) => !seen.has(e.id)).map((e) => `${e.type} ${e.kid}`).sort();
}

/** RFC 9457 problem document (contract §5). */
function expectProblem(res: Response, status: number, detail?: RegExp): void {
  const body = expectProblemDocument(res, status);
  if (detail) assert.match(body.detail as string, detail);
}

/** Runs one statement over a connection of our own, as an operator (or an outage) would. */
async function sql(t: TestService, statement: string): Promise<Record<string, unknown>[]> {
  if (t.database.provider === 'postgresql') {
    const client = new pg.Client({ connectionString: t.database.url });
    await client.connect();
    try {
      return (await client.query(statement)).rows as Record<string, unknown>[];
    } finally {
      await client.end();
    }
  }
  const db = new Database(t.database.url.replace(/^file:/, ''), { fileMustExist: true, timeout: 5000 });
  try {
    const prepared = db.prepare(statement);
    if (prepared.reader) return prepared.all() as Record<string, unknown>[];
    prepared.run();
    return [];
  } finally {
    db.close();
  }
}

describe('admin API: signing keys, rotation and revocation (KR-01, KR-02, KR-04, JW-03, JW-05)', () => {
  let t: TestService;
  let client: RegisteredClient;
  /** A client whose tokens live MAX_ACCESS_TOKEN_TTL, the longest a retired key must cover. */
  let longLived: RegisteredClient;

  before(async () => {
    t = await startTestService();
    client = await t.registerClient();
    longLived = await t.registerClient({ access_token_ttl: t.config.maxAccessTokenTtl });
  });
  after(() => t.stop());

  it('GET /admin/keys lists one active and one next key after the first start, with dates and no key material', async () => {
    const res = await t.agent.get('/admin/keys').set('authorization', await bearer(t));
    assert.equal(res.status, 200, res.text);
    expectMatchesOpenApi(res, 'GET', '/admin/keys');
    assert.deepEqual(Object.keys(res.body), ['items']);
    const keys = res.body.items as KeyInfo[];
    assert.equal(keys.length, 2);
    for (const key of keys) assert.deepEqual(Object.keys(key).sort(), KEY_INFO_MEMBERS);
    const active = onlyInState(keys, 'active');
    const next = onlyInState(keys, 'next');
    assert.equal(active.alg, 'RS256');
    assert.equal(next.alg, 'RS256');
    assert.notEqual(active.kid, next.kid);
    assert.match(active.activated_at ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual([next.activated_at, next.retired_at, next.expires_at, next.revoked_at], [null, null, null, null]);
    assert.deepEqual([active.retired_at, active.expires_at, active.revoked_at], [null, null, null]);
    assert.doesNotMatch(res.text, /"(n|e|d|p|q|dp|dq|qi|k|x|y|crv|jwk|publicJwk|encryptedPrivateJwk|encrypted_private_jwk)"\s*:/);

    // The JWKS publishes exactly these two; tokens are signed by the active one.
    const { kids } = await fetchJwks(t);
    assert.deepEqual(kids.sort(), [active.kid, next.kid].sort());
    assert.equal(kidOf(await t.tokenFor(client.clientId, client.secret)), active.kid);
  });

  it('KR-01 refuses a manual rotation before the next key has been published for KEY_PREPUBLISH, with 409 and no change', async () => {
    const keysBefore = await listKeys(t);
    const eventsBefore = await keyEvents(t);
    const { etag } = await fetchJwks(t);
    const res = await rotate(t);
    expectProblem(res, 409, /KEY_PREPUBLISH/);
    expectMatchesOpenApi(res, 'POST', '/admin/keys/rotate');
    assert.deepEqual(await listKeys(t), keysBefore);
    assert.deepEqual(newKeyEvents(eventsBefore, await keyEvents(t)), []);
    assert.equal((await fetchJwks(t)).etag, etag);
  });

  it('KR-01 signs after a rotation only with a kid already in the JWKS snapshot taken before it, which verifies the new tokens without a refetch', async () => {
    const t0 = await fetchJwks(t);
    const keysBefore = await listKeys(t);
    const oldActive = onlyInState(keysBefore, 'active');
    const oldNext = onlyInState(keysBefore, 'next');
    assert.ok(t0.kids.includes(oldNext.kid), 'the next key is pre-published');
    const eventsBefore = await keyEvents(t);

    passPrepublication(t);
    const res = await rotate(t);
    assert.equal(res.status, 200, res.text);
    expectMatchesOpenApi(res, 'POST', '/admin/keys/rotate');
    const keys = res.body.items as KeyInfo[];
    assert.deepEqual(keys, await listKeys(t));
    assert.equal(onlyInState(keys, 'active').kid, oldNext.kid);
    const retired = keys.find((k) => k.kid === oldActive.kid)!;
    assert.equal(retired.state, 'retired');
    const newNext = onlyInState(keys, 'next');
    assert.ok(![oldActive.kid, oldNext.kid].includes(newNext.kid));

    // Every token signed from now on carries the pre-published kid and verifies against the T0 snapshot.
    const tokens = await Promise.all(Array.from({ length: 5 }, () => t.tokenFor(client.clientId, client.secret)));
    for (const token of tokens) {
      assert.equal(kidOf(token), oldNext.kid);
      await verifyAgainst(t, token, t0.jwks);
    }

    // Exactly one event of each kind for the rotation.
    assert.deepEqual(newKeyEvents(eventsBefore, await keyEvents(t)),
      [`key.activated ${oldNext.kid}`, `key.created ${newNext.kid}`, `key.retired ${oldActive.kid}`].sort());

    // JW-03: a new key set has a new ETag; the old one gets the new body.
    const live = await fetchJwks(t);
    assert.notEqual(live.etag, t0.etag);
    assert.deepEqual(live.kids.sort(), [oldActive.kid, oldNext.kid, newNext.kid].sort());
    const revalidated = await fetchJwks(t, t0.etag);
    assert.equal(revalidated.status, 200);
    assert.equal(revalidated.etag, live.etag);
    assert.equal(revalidated.res.text, live.res.text);
    assert.equal((await fetchJwks(t, live.etag)).status, 304);
  });

  it('KR-02 keeps a retired key published until every token it signed has expired plus 60 s of clock skew, then drops it', async () => {
    passPrepublication(t);
    const token = await t.tokenFor(longLived.clientId, longLived.secret);
    const signedBy = kidOf(token);
    const { exp } = (await verifyAgainst(t, token, (await fetchJwks(t)).jwks)).payload;
    const res = await rotate(t);
    assert.equal(res.status, 200, res.text);
    const retired = (res.body.items as KeyInfo[]).find((k) => k.kid === signedBy)!;
    assert.equal(retired.state, 'retired');
    const retiredAt = Date.parse(retired.retired_at!);
    const expiresAt = Date.parse(retired.expires_at!);
    assert.equal(expiresAt - retiredAt, (t.config.maxAccessTokenTtl + 60) * 1000);
    assert.ok(expiresAt >= (exp! + 60) * 1000, 'the key outlives the token by the skew margin');

    async function expectPublished(published: boolean) {
      await t.container.keys.tick();
      const live = await fetchJwks(t);
      assert.equal(live.kids.includes(signedBy), published, `at ${t.clock.now().toISOString()} (key expires ${retired.expires_at})`);
      return live;
    }
    // The old token verifies against the live JWKS right after the rotation and up to its exp.
    await verifyAgainst(t, token, (await expectPublished(true)).jwks);
    for (const secondsBeforeExp of [600, 5]) {
      t.clock.advance(exp! - secondsBeforeExp - t.clock.now().getTime() / 1000);
      await verifyAgainst(t, token, (await expectPublished(true)).jwks);
    }
    // Expired tokens no longer matter, but a verifier running 60 s behind still sees them valid: the key stays.
    t.clock.advance((expiresAt - 3000 - t.clock.now().getTime()) / 1000);
    await expectPublished(true);
    t.clock.advance((expiresAt + 1000 - t.clock.now().getTime()) / 1000);
    const gone = await expectPublished(false);
    assert.equal(gone.kids.length, 2, 'only the active and the next key remain');
    // The record stays for the audit trail, as retired and no longer published.
    assert.equal((await listKeys(t)).find((k) => k.kid === signedBy)?.state, 'retired');
  });

  it('KR-04 emergency revocation of the active key: out of the JWKS at once, the next key signs, a short max-age, audited', async () => {
    const keysBefore = await listKeys(t);
    const active = onlyInState(keysBefore, 'active');
    const next = onlyInState(keysBefore, 'next');
    const before = await fetchJwks(t);
    assert.ok(before.maxAge > 60, `max-age before the revocation: ${before.maxAge}`);
    const oldToken = await t.tokenFor(client.clientId, client.secret);
    assert.equal(kidOf(oldToken), active.kid);
    const adminSignedByRevokedKey = await bearer(t);
    const eventsBefore = await keyEvents(t);

    // No waiting for KEY_PREPUBLISH: an emergency does not wait.
    const res = await revoke(t, active.kid);
    assert.equal(res.status, 200, res.text);
    expectMatchesOpenApi(res, 'POST', '/admin/keys/{kid}/revoke');
    assert.deepEqual(Object.keys(res.body).sort(), KEY_INFO_MEMBERS);
    assert.equal(res.body.kid, active.kid);
    assert.equal(res.body.state, 'revoked');
    assert.match(res.body.revoked_at, /^\d{4}-\d\d-\d\dT/);

    // Gone from the JWKS at once: the old ETag gets 200 with a new body.
    const afterwards = await fetchJwks(t, before.etag);
    assert.equal(afterwards.status, 200);
    assert.notEqual(afterwards.etag, before.etag);
    assert.ok(!afterwards.kids.includes(active.kid));
    assert.ok(afterwards.kids.includes(next.kid));
    const keys = await listKeys(t);
    assert.equal(onlyInState(keys, 'active').kid, next.kid);
    const newNext = onlyInState(keys, 'next');
    assert.ok(afterwards.kids.includes(newNext.kid));

    // Caches are told to come back within 60 s for a while.
    assert.ok(afterwards.maxAge > 0 && afterwards.maxAge <= 60, `max-age after the revocation: ${afterwards.maxAge}`);
    assert.match(afterwards.res.headers['cache-control'] as string, /^public, max-age=\d+, stale-while-revalidate=60, stale-if-error=240$/);

    // New tokens use the promoted key; a token of the revoked key fails at a verifier that refetches.
    const newToken = await t.tokenFor(client.clientId, client.secret);
    assert.equal(kidOf(newToken), next.kid);
    await verifyAgainst(t, newToken, afterwards.jwks);
    await assert.rejects(verifyAgainst(t, oldToken, afterwards.jwks), joseErrors.JWKSNoMatchingKey);

    assert.deepEqual(newKeyEvents(eventsBefore, await keyEvents(t)),
      [`key.activated ${next.kid}`, `key.created ${newNext.kid}`, `key.revoked ${active.kid}`].sort());
    const revokedEvent = (await t.auditEvents({ type: 'key.revoked' }))[0]!;
    assert.equal(revokedEvent.outcome, 'success');
    assert.deepEqual(revokedEvent.details, { alg: 'RS256', previous_state: 'active' });

    // AD-01 (revoked-key row): an admin token signed by the revoked key no longer opens the admin API.
    const denied = await t.agent.get('/admin/keys').set('authorization', adminSignedByRevokedKey);
    expectProblem(denied, 401);
    assert.equal(denied.headers['www-authenticate'], 'Bearer error="invalid_token"');
    const deniedEvent = (await t.auditEvents({ type: 'admin.denied' }))[0]!;
    assert.equal(deniedEvent.reason, 'unknown_kid');

    // The short max-age lasts while caches may still hold the pre-revocation set, then returns to JWKS_MAX_AGE.
    t.clock.advance(t.config.jwksMaxAge + 1);
    const later = await fetchJwks(t);
    assert.ok(later.maxAge >= Math.floor(t.config.jwksMaxAge * 0.9) && later.maxAge <= t.config.jwksMaxAge, `max-age later: ${later.maxAge}`);
  });

  it('KR-04 revoking a revoked key again is idempotent: 200, the same record, no new event', async () => {
    const revoked = onlyInState(await listKeys(t), 'revoked');
    const eventsBefore = await keyEvents(t);
    const { etag } = await fetchJwks(t);
    const res = await revoke(t, revoked.kid);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, revoked);
    assert.deepEqual(newKeyEvents(eventsBefore, await keyEvents(t)), []);
    assert.equal((await fetchJwks(t)).etag, etag);
  });

  it('KR-04 answers an unknown kid with 404 problem+json and changes nothing', async () => {
    const keysBefore = await listKeys(t);
    const eventsBefore = await keyEvents(t);
    for (const kid of ['no-such-kid', `${keysBefore[0]!.kid}x`, 'a'.repeat(300)]) {
      const res = await revoke(t, kid);
      expectProblem(res, 404);
      expectMatchesOpenApi(res, 'POST', '/admin/keys/{kid}/revoke');
      assert.equal(res.headers['cache-control'], 'no-store');
    }
    assert.deepEqual(await listKeys(t), keysBefore);
    assert.deepEqual(newKeyEvents(eventsBefore, await keyEvents(t)), []);
  });

  it('KR-04 revoking the next key withdraws it unused and pre-publishes a replacement', async () => {
    const keysBefore = await listKeys(t);
    const active = onlyInState(keysBefore, 'active');
    const next = onlyInState(keysBefore, 'next');
    const eventsBefore = await keyEvents(t);
    const res = await revoke(t, next.kid);
    assert.equal(res.status, 200, res.text);
    const keys = await listKeys(t);
    assert.equal(onlyInState(keys, 'active').kid, active.kid);
    const replacement = onlyInState(keys, 'next');
    const { kids } = await fetchJwks(t);
    assert.ok(!kids.includes(next.kid));
    assert.ok(kids.includes(replacement.kid));
    assert.equal(kidOf(await t.tokenFor(client.clientId, client.secret)), active.kid);
    assert.deepEqual(newKeyEvents(eventsBefore, await keyEvents(t)), [`key.created ${replacement.kid}`, `key.revoked ${next.kid}`].sort());
  });

  it('KR-04 a key-set reload that read before a revocation does not bring the revoked key back', async () => {
    const stores = t.container.uow.stores;
    const real = stores.keys;
    let read!: () => void;
    let release!: () => void;
    const hasRead = new Promise<void>((resolve) => (read = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    let delayed = false;
    // The first reload (the scheduler's or ours) reads the set, then answers only after the revocation committed.
    stores.keys = {
      listAll: async () => {
        const records = await real.listAll();
        if (delayed) return records;
        delayed = true;
        read();
        await released;
        return records;
      },
      insert: (key) => real.insert(key),
      transition: (...args) => real.transition(...args),
      replaceSealedPrivateKey: (...args) => real.replaceSealedPrivateKey(...args),
    };
    try {
      const tick = t.container.keys.tick();
      await hasRead;
      const active = onlyInState(await listKeys(t), 'active');
      assert.equal((await revoke(t, active.kid)).status, 200);
      release();
      await tick;
      assert.notEqual(t.container.keys.activeSigningKey()?.kid, active.kid, 'the revoked key signs again');
      assert.notEqual(kidOf(await t.tokenFor(client.clientId, client.secret)), active.kid);
      assert.ok(!(await fetchJwks(t)).kids.includes(active.kid), 'the revoked key is published again');
    } finally {
      release();
      stores.keys = real;
    }
  });

  it('KR-04 never reuses a kid: every kid ever created is distinct and no revoked kid comes back', async () => {
    passPrepublication(t);
    assert.equal((await rotate(t)).status, 200);
    const keys = await listKeys(t);
    const created = (await t.auditEvents({ type: 'key.created' })).map((e) => e.kid);
    assert.equal(new Set(created).size, created.length);
    assert.deepEqual([...new Set(created)].sort(), keys.map((k) => k.kid).sort());
    const revoked = inState(keys, 'revoked').map((k) => k.kid);
    assert.equal(revoked.length, 3);
    const { kids } = await fetchJwks(t);
    for (const kid of revoked) assert.ok(!kids.includes(kid));
    assert.ok(!revoked.includes(kidOf(await t.tokenFor(client.clientId, client.secret))));
  });
});

/** A retired record that shares the public material of `jwk` under its own kid (the JWKS cap only counts keys). */
function retiredRecord(jwk: JWK, kid: string, createdAt: Date, expiresAt: Date): SigningKeyRecord {
  return {
    kid,
    alg: 'RS256',
    state: 'retired',
    publicJwk: { ...jwk, kid, use: 'sig', alg: 'RS256' },
    encryptedPrivateJwk: '',
    createdAt,
    activatedAt: createdAt,
    retiredAt: createdAt,
    expiresAt,
    revokedAt: null,
  };
}

describe('the published-key cap (JW-05: at most 100 keys in the JWKS)', () => {
  let t: TestService;

  before(async () => {
    // Pre-publication shorter than a retired key's life (MAX_ACCESS_TOKEN_TTL + 60 s), so rotations pile keys up.
    t = await startTestService({ KEY_PREPUBLISH: '600', JWKS_MAX_AGE: '300' });
    // 97 retired keys still covering tokens, plus the active and the next key: 99 published.
    const { publicKey } = await promisify(generateNodeKeyPair)('rsa', { modulusLength: 2048 });
    const jwk = await exportJWK(publicKey);
    const start = t.clock.now().getTime() - 3600_000;
    const expiresAt = new Date(t.clock.now().getTime() + 10 * 86400_000);
    for (let i = 0; i < 97; i++) {
      await t.container.uow.stores.keys.insert(retiredRecord(jwk, `prepared-${String(i).padStart(2, '0')}`, new Date(start + i * 1000), expiresAt));
    }
    await t.container.keys.tick();
  });
  after(() => t.stop());

  it('JW-05 rotates up to exactly 100 published keys, then refuses the rotation with 409 and changes nothing', async () => {
    assert.equal((await fetchJwks(t)).kids.length, 99);
    passPrepublication(t);
    assert.equal((await rotate(t)).status, 200);
    const full = await fetchJwks(t);
    assert.equal(full.kids.length, 100);
    assert.equal(new Set(full.kids).size, 100);

    const keysBefore = await listKeys(t);
    const eventsBefore = await keyEvents(t);
    passPrepublication(t);
    const refused = await rotate(t);
    expectProblem(refused, 409, /100 keys are published/);
    expectMatchesOpenApi(refused, 'POST', '/admin/keys/rotate');
    assert.deepEqual(await listKeys(t), keysBefore);
    assert.deepEqual(newKeyEvents(eventsBefore, await keyEvents(t)), []);
    assert.equal((await fetchJwks(t)).etag, full.etag);
  });

  it('JW-05 still allows the emergency revocation of the active key at the cap, staying at 100 keys', async () => {
    const active = onlyInState(await listKeys(t), 'active');
    const next = onlyInState(await listKeys(t), 'next');
    const res = await revoke(t, active.kid);
    assert.equal(res.status, 200, res.text);
    const { kids } = await fetchJwks(t);
    assert.equal(kids.length, 100);
    assert.ok(!kids.includes(active.kid));
    assert.equal(t.container.keys.activeSigningKey()?.kid, next.kid);
  });

  it('JW-05 rotates again once retired keys have expired and left the JWKS', async () => {
    t.clock.advance(10 * 86400);
    await t.container.keys.tick();
    const published = await fetchJwks(t);
    assert.ok(published.kids.length < 100, `${published.kids.length} keys still published`);
    assert.ok(!published.kids.some((kid) => kid.startsWith('prepared-')));
    passPrepublication(t);
    assert.equal((await rotate(t)).status, 200);
  });
});

describe('SIGNING_ALG change (takes effect at the next rotation)', () => {
  let rs: TestService;
  let es: TestService;
  let client: RegisteredClient;
  let rsToken: string;
  let keysBefore: KeyInfo[];

  before(async () => {
    rs = await startTestService();
    client = await rs.registerClient();
    rsToken = await rs.tokenFor(client.clientId, client.secret);
    keysBefore = await listKeys(rs);
    // A restart with a new algorithm: the RS256 process stops (its database stays), the ES256 one starts on it.
    await rs.service.stop(2000);
    es = await startTestService({ ISSUER: rs.config.issuer, SIGNING_ALG: 'ES256' }, { database: rs.database, keysDir: rs.keysDir });
  });
  after(async () => {
    await es?.stop();
    await rs?.stop();
  });

  it('replaces the unused RS256 next key by an ES256 one at start, while the RS256 active key keeps signing', async () => {
    const active = onlyInState(keysBefore, 'active');
    const oldNext = onlyInState(keysBefore, 'next');
    const keys = await listKeys(es);
    assert.equal(onlyInState(keys, 'active').kid, active.kid);
    const next = onlyInState(keys, 'next');
    assert.equal(next.alg, 'ES256');
    const withdrawn = keys.find((k) => k.kid === oldNext.kid)!;
    assert.equal(withdrawn.state, 'retired');
    assert.equal(withdrawn.activated_at, null);
    const event = (await es.auditEvents({ type: 'key.retired' })).find((e) => e.kid === oldNext.kid);
    assert.deepEqual(event?.details, { alg: 'RS256', reason: 'signing_alg_changed' });

    const token = await es.tokenFor(client.clientId, client.secret);
    assert.deepEqual([decodeProtectedHeader(token).alg, kidOf(token)], ['RS256', active.kid]);
    const { jwks } = await fetchJwks(es);
    assert.deepEqual(jwks.keys.map((k) => `${k.kid} ${k.alg}`).sort(), [`${active.kid} RS256`, `${next.kid} ES256`].sort());
    await verifyAgainst(es, token, jwks);
    await verifyAgainst(es, rsToken, jwks);
  });

  it('signs with ES256 after the next rotation and keeps the RS256 key published as retired', async () => {
    const active = onlyInState(await listKeys(es), 'active');
    const next = onlyInState(await listKeys(es), 'next');
    passPrepublication(es);
    const res = await rotate(es);
    assert.equal(res.status, 200, res.text);
    const keys = res.body.items as KeyInfo[];
    assert.equal(onlyInState(keys, 'active').kid, next.kid);
    assert.equal(onlyInState(keys, 'next').alg, 'ES256');
    assert.equal(keys.find((k) => k.kid === active.kid)?.state, 'retired');

    const token = await es.tokenFor(client.clientId, client.secret);
    assert.deepEqual([decodeProtectedHeader(token).alg, kidOf(token)], ['ES256', next.kid]);
    const { jwks } = await fetchJwks(es);
    assert.equal(jwks.keys.find((k) => k.kid === active.kid)?.alg, 'RS256', 'the RS256 key stays published until it expires');
    assert.deepEqual(jwks.keys.map((k) => k.alg).sort(), ['ES256', 'ES256', 'RS256']);
    await verifyAgainst(es, token, jwks);
    // An RS256 token of the old key, signed before the restart, verifies against this JWKS (at a time it is unexpired).
    await verifyAgainst(es, rsToken, jwks, new Date(decodeJwt(rsToken).iat! * 1000));
  });
});

const execFileAsync = promisify(execFile);

describe('keys command line (npm run keys -- list | rotate | revoke <kid>)', () => {
  // Short pre-publication and sync: the command line runs on the system clock, so the tests wait in real time.
  const env = { KEY_PREPUBLISH: '4', JWKS_MAX_AGE: '1', KEY_SYNC_INTERVAL: '1' };
  let t: TestService;
  let client: RegisteredClient;

  before(async () => {
    t = await startTestService(env);
    client = await t.registerClient();
  });
  after(() => t.stop());

  async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return cliWith({}, ...args);
  }

  async function cliWith(overrides: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const childEnv = { ...process.env, ...env, NODE_ENV: 'test', DATABASE_URL: t.database.url, KEYS_DIR: t.keysDir, LOG_LEVEL: 'warn', ...overrides };
    try {
      const { stdout, stderr } = await execFileAsync(process.execPath, ['--import', 'tsx', 'src/cli/keys.ts', ...args], { cwd: REPO_ROOT, env: childEnv, timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  /** kid → state, as the command prints them. */
  const printed = (stdout: string) => new Map(stdout.trim().split('\n').map((line) => {
    const [kid, alg, state] = line.split(/\s+/);
    assert.equal(alg, 'RS256');
    return [kid!, state!];
  }));

  /** Polls until the running service signs with `kid` and publishes `published`; returns the milliseconds it took. */
  async function waitForService(kid: string, check: (kids: string[]) => boolean): Promise<number> {
    const start = Date.now();
    // KEY_SYNC_INTERVAL is 1 s; the margin is for a busy machine. A sync that does not work never gets there.
    const limit = (t.config.keySyncInterval + 10) * 1000;
    while (Date.now() - start < limit) {
      if (kidOf(await t.tokenFor(client.clientId, client.secret)) === kid && check((await fetchJwks(t)).kids)) return Date.now() - start;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.fail(`the service did not pick up the change within KEY_SYNC_INTERVAL (${t.config.keySyncInterval} s) plus 10 s`);
  }

  it('lists the keys with their states and dates, and no key material', async () => {
    const keys = await listKeys(t);
    const { code, stdout, stderr } = await cli('list');
    assert.equal(code, 0, stderr);
    assert.deepEqual(printed(stdout), new Map(keys.map((k) => [k.kid, k.state])));
    assert.match(stdout, /created \d{4}-\d\d-\d\dT/);
    assert.doesNotMatch(stdout, /"kty"|PRIVATE/);
  });

  it('rotates on the database; the running service signs with the new key within KEY_SYNC_INTERVAL, audited as the operator', async () => {
    const keys = await listKeys(t);
    const oldNext = onlyInState(keys, 'next');
    const wait = Date.parse(oldNext.created_at) + t.config.keyPrepublish * 1000 + 100 - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const { code, stdout, stderr } = await cli('rotate');
    assert.equal(code, 0, stderr);
    const states = printed(stdout);
    assert.equal(states.get(oldNext.kid), 'active');
    const newNext = [...states].find(([, state]) => state === 'next')![0];
    const delay = await waitForService(oldNext.kid, (kids) => kids.includes(newNext));
    console.log(`command-line rotation reached the running service after ${delay} ms`);
    const activated = (await t.auditEvents({ type: 'key.activated' })).filter((e) => e.kid === oldNext.kid);
    assert.equal(activated.length, 1);
    assert.match(activated[0]!.requestId ?? '', /^cli-\d+$/);
  });

  it('revokes on the database; the running service stops signing with and publishing the key within KEY_SYNC_INTERVAL', async () => {
    const active = onlyInState(await listKeys(t), 'active');
    const next = onlyInState(await listKeys(t), 'next');
    const { code, stdout, stderr } = await cli('revoke', active.kid);
    assert.equal(code, 0, stderr);
    assert.equal(printed(stdout).get(active.kid), 'revoked');
    await waitForService(next.kid, (kids) => !kids.includes(active.kid));
    assert.deepEqual((await t.auditEvents({ type: 'key.revoked' })).map((e) => [e.kid, e.requestId?.startsWith('cli-')]), [[active.kid, true]]);
  });

  it('fails with a message and exit code 1 for an unknown kid or a rotation before KEY_PREPUBLISH, and 2 for bad usage', async () => {
    const keysBefore = await listKeys(t);
    // A fresh next key (the old one withdrawn through the API), so a rotation comes before KEY_PREPUBLISH has passed.
    assert.equal((await revoke(t, onlyInState(keysBefore, 'next').kid)).status, 200);
    // The command judges "too early" by its own KEY_PREPUBLISH: a day, so however slowly it starts, it is early.
    const early = await cliWith({ KEY_PREPUBLISH: '1d', KEY_ROTATION_INTERVAL: '30d', JWKS_MAX_AGE: '900', KEY_SYNC_INTERVAL: '5' }, 'rotate');
    const keysNow = await listKeys(t);
    assert.equal(early.code, 1);
    assert.match(early.stderr, /^keys: the next key \S+ may sign from .*KEY_PREPUBLISH/);
    const unknown = await cli('revoke', 'no-such-kid');
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, 'keys: no signing key "no-such-kid"\n');
    const usage = await cli('revoke');
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^usage: keys list \| keys rotate \| keys revoke <kid>/);
    assert.deepEqual(await listKeys(t), keysNow);
  });
});

describe('faults: key changes while the database is unavailable', () => {
  let t: TestService;
  let client: RegisteredClient;

  before(async () => {
    t = await startTestService();
    client = await t.registerClient();
  });
  after(() => t.stop());

  it('answers a rotation with 503 while the key table is unavailable, keeps signing with the same key, and changes nothing', async () => {
    const keysBefore = await listKeys(t);
    const active = onlyInState(keysBefore, 'active');
    const eventsBefore = await keyEvents(t);
    const { etag } = await fetchJwks(t);
    passPrepublication(t);
    const auth = await bearer(t);
    await sql(t, 'ALTER TABLE "SigningKey" RENAME TO "SigningKeyAway"');
    try {
      const res = await t.agent.post('/admin/keys/rotate').set('authorization', auth);
      expectProblem(res, 503);
      expectMatchesOpenApi(res, 'POST', '/admin/keys/rotate');
      assert.equal(res.headers['retry-after'], '5');
      assert.equal(kidOf(await t.tokenFor(client.clientId, client.secret)), active.kid);
    } finally {
      await sql(t, 'ALTER TABLE "SigningKeyAway" RENAME TO "SigningKey"');
    }
    assert.deepEqual(await listKeys(t), keysBefore);
    assert.deepEqual(newKeyEvents(eventsBefore, await keyEvents(t)), []);
    assert.equal((await fetchJwks(t)).etag, etag);
  });

  it('rolls a rotation back whole when its audit record cannot be written: 503 and the key set unchanged in the database', async () => {
    const keysBefore = await listKeys(t);
    const { etag } = await fetchJwks(t);
    passPrepublication(t);
    const auth = await bearer(t);
    await sql(t, 'ALTER TABLE "AuditEvent" RENAME TO "AuditEventAway"');
    try {
      expectProblem(await t.agent.post('/admin/keys/rotate').set('authorization', auth), 503);
    } finally {
      await sql(t, 'ALTER TABLE "AuditEventAway" RENAME TO "AuditEvent"');
    }
    const rows = await sql(t, 'SELECT "kid", "state" FROM "SigningKey" ORDER BY "kid"');
    assert.deepEqual(rows.map((r) => `${r.kid} ${r.state}`), keysBefore.map((k) => `${k.kid} ${k.state}`).sort());
    await t.container.keys.tick();
    assert.deepEqual(await listKeys(t), keysBefore);
    assert.equal((await fetchJwks(t)).etag, etag);
    // With the database back, the same rotation succeeds.
    const res = await rotate(t);
    assert.equal(res.status, 200, res.text);
    assert.equal(onlyInState(res.body.items, 'active').kid, onlyInState(keysBefore, 'next').kid);
  });
});
