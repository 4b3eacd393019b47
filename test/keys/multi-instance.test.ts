import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWK } from 'jose';
import jwt from 'jsonwebtoken';
import jwksClient from 'jwks-rsa';
import pg from 'pg';
import { startTestService, type RegisteredClient, type TestService } from '../helpers/start-app.ts';
import { testDatabaseProvider } from '../helpers/test-database.ts';
import { FAST_KEY_LIFECYCLE } from '../helpers/fast-key-lifecycle.ts';
import { adminBearer, listKeys, type KeyInfo } from '../helpers/admin-keys.ts';

const ORDERS = 'https://orders.internal';
const ISSUER = 'http://identity.test';
/** Every instance of one deployment: one issuer (tokens and admin audiences agree), fast key timings. */
const ENV = { ISSUER, ...FAST_KEY_LIFECYCLE, LOG_LEVEL: 'warn' };
/** How long past KEY_SYNC_INTERVAL a change may take to reach another instance (a tick, a query, a busy machine). */
const SYNC_MARGIN_MS = 1500;

const SKIP = testDatabaseProvider() === 'postgresql'
  ? false
  : 'several instances need PostgreSQL (one SQLite file shared by instances is not supported); run with DATABASE_URL=postgresql://…';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const bearer = adminBearer;

const onlyInState = (keys: KeyInfo[], state: string) => {
  const found = keys.filter((k) => k.state === state);
  assert.equal(found.length, 1, `exactly one ${state} key: ${JSON.stringify(keys)}`);
  return found[0]!;
};

async function fetchJwks(t: TestService): Promise<{ etag: string; jwks: JSONWebKeySet; kids: string[] }> {
  const res = await fetch(`${t.url}/.well-known/jwks.json`);
  assert.equal(res.status, 200);
  const jwks = (await res.json()) as JSONWebKeySet;
  return { etag: res.headers.get('etag')!, jwks, kids: jwks.keys.map((k) => k.kid!) };
}

const kidOf = (token: string) => decodeProtectedHeader(token).kid!;

/** Waits (in real time: these instances' clocks are not moved) until the next key may sign. */
async function waitUntilNextSignable(t: TestService): Promise<KeyInfo> {
  const next = onlyInState(await listKeys(t), 'next');
  await sleep(Math.max(0, Date.parse(next.created_at) + t.config.keyPrepublish * 1000 + 100 - Date.now()));
  return next;
}

/** The key rows and counts straight from the database, over a connection of our own. */
async function query<T = Record<string, unknown>>(t: TestService, statement: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: t.database.url });
  await client.connect();
  try {
    return (await client.query(statement)).rows as T[];
  } finally {
    await client.end();
  }
}

const keyRows = (t: TestService) => query<{ kid: string; state: string }>(t, 'SELECT "kid", "state" FROM "SigningKey" ORDER BY "kid"');

async function eventCounts(t: TestService) {
  const rows = await query<{ type: string; n: string }>(t, `SELECT "type", count(*) AS n FROM "AuditEvent" WHERE "type" LIKE 'key.%' GROUP BY "type"`);
  const counts = Object.fromEntries(rows.map((r) => [r.type, Number(r.n)]));
  return { created: counts['key.created'] ?? 0, activated: counts['key.activated'] ?? 0, retired: counts['key.retired'] ?? 0, revoked: counts['key.revoked'] ?? 0 };
}

/** Milliseconds until `t` signs with `active` and publishes `next`, polling; fails past KEY_SYNC_INTERVAL plus the margin. */
async function propagationDelay(t: TestService, client: RegisteredClient, active: string, next: string, since: number): Promise<number> {
  const limit = since + t.config.keySyncInterval * 1000 + SYNC_MARGIN_MS;
  for (;;) {
    const [token, { kids }] = await Promise.all([t.tokenFor(client.clientId, client.secret), fetchJwks(t)]);
    if (kidOf(token) === active && kids.includes(next)) return Date.now() - since;
    assert.ok(Date.now() < limit, `${t.url} did not sign with ${active} and publish ${next} within KEY_SYNC_INTERVAL + ${SYNC_MARGIN_MS} ms`);
    await sleep(20);
  }
}

/**
 * Continuous issuance on every instance, each token checked by jwks-rsa (long cache, refetch on an
 * unknown kid) against ANOTHER instance's JWKS, plus a sampler of the key table that checks there is
 * exactly one active and one next key at every moment.
 */
function startLoad(instances: TestService[], client: RegisteredClient, workersPerInstance: number) {
  const authorization = `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.secret)}`).toString('base64')}`;
  const verifiers = instances.map((t) => jwksClient({ jwksUri: `${t.url}/.well-known/jwks.json`, cache: true, cacheMaxAge: 10 * 60_000 }));
  let stop = false;
  let checked = 0;
  let samples = 0;
  const failures: string[] = [];

  async function worker(i: number): Promise<void> {
    const verifier = verifiers[(i + 1) % instances.length]!;
    while (!stop) {
      const res = await fetch(`${instances[i]!.url}/token`, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      if (res.status !== 200) {
        failures.push(`instance ${i}: POST /token answered ${res.status}`);
        await res.text();
        continue;
      }
      const token = ((await res.json()) as { access_token: string }).access_token;
      try {
        const key = await verifier.getSigningKey(kidOf(token));
        jwt.verify(token, key.getPublicKey(), { algorithms: ['RS256'], issuer: ISSUER, audience: ORDERS });
      } catch (error) {
        failures.push(`instance ${i} token at instance ${(i + 1) % instances.length}'s JWKS: ${(error as Error).message}`);
      }
      checked += 1;
    }
  }

  async function sampler(): Promise<void> {
    const db = new pg.Client({ connectionString: instances[0]!.database.url });
    await db.connect();
    try {
      while (!stop) {
        const { rows } = await db.query(`SELECT count(*) FILTER (WHERE state = 'active') AS active, count(*) FILTER (WHERE state = 'next') AS next FROM "SigningKey"`);
        if (Number(rows[0].active) !== 1 || Number(rows[0].next) !== 1) failures.push(`key table held ${rows[0].active} active and ${rows[0].next} next keys`);
        samples += 1;
        await sleep(25);
      }
    } finally {
      await db.end();
    }
  }

  const running = [...instances.flatMap((_, i) => Array.from({ length: workersPerInstance }, () => worker(i))), sampler()];
  return {
    async finish() {
      stop = true;
      await Promise.all(running);
      return { checked, samples, failures };
    },
  };
}

describe('KR-03 three instances on one PostgreSQL database', { skip: SKIP }, () => {
  let a: TestService;
  let b: TestService;
  let c: TestService;
  let instances: TestService[];
  let client: RegisteredClient;
  let load: ReturnType<typeof startLoad>;

  before(async () => {
    a = await startTestService(ENV);
    b = await startTestService(ENV, { database: a.database, keysDir: a.keysDir });
    c = await startTestService(ENV, { database: a.database, keysDir: a.keysDir });
    instances = [a, b, c];
    client = await a.registerClient();
    load = startLoad(instances, client, 2);
  });
  after(async () => {
    await load?.finish();
    await c?.stop();
    await b?.stop();
    await a?.stop();
  });

  it('KR-03 rotate called on all three at once: exactly one 200, 409 for the others, one new key, one active key', async () => {
    const oldNext = await waitUntilNextSignable(a);
    const before = await eventCounts(a);
    const auths = await Promise.all(instances.map(bearer));
    const responses = await Promise.all(instances.map((t, i) => t.agent.post('/admin/keys/rotate').set('authorization', auths[i]!)));
    const answeredAt = Date.now();
    assert.deepEqual(responses.map((r) => r.status).sort(), [200, 409, 409], responses.map((r) => r.text).join('\n'));
    for (const loser of responses.filter((r) => r.status === 409)) {
      assert.match(loser.headers['content-type'] ?? '', /^application\/problem\+json/);
      assert.match(loser.body.detail, /changed concurrently|may sign from/);
    }

    const rows = await keyRows(a);
    assert.deepEqual(rows.filter((r) => r.state === 'active').map((r) => r.kid), [oldNext.kid]);
    assert.equal(rows.filter((r) => r.state === 'next').length, 1);
    assert.equal(rows.length, 3);
    const newNext = rows.find((r) => r.state === 'next')!.kid;
    assert.deepEqual(await eventCounts(a), { created: before.created + 1, activated: before.activated + 1, retired: before.retired + 1, revoked: 0 });

    const delays = await Promise.all(instances.map((t) => propagationDelay(t, client, oldNext.kid, newNext, answeredAt)));
    console.log(`propagation delay after simultaneous rotate calls: ${Math.max(...delays)} ms (per instance: ${delays.join(', ')} ms)`);
  });

  it('KR-03 a rotation on one instance reaches the others within KEY_SYNC_INTERVAL (propagation delay measured)', async () => {
    const measured: number[] = [];
    for (const [rotator, others] of [[b, [a, c]], [c, [a, b]]] as const) {
      const oldNext = await waitUntilNextSignable(rotator);
      const res = await rotator.agent.post('/admin/keys/rotate').set('authorization', await bearer(rotator));
      const answeredAt = Date.now();
      assert.equal(res.status, 200, res.text);
      const newNext = onlyInState(res.body.items, 'next').kid;
      assert.equal(onlyInState(res.body.items, 'active').kid, oldNext.kid);
      // The rotating instance itself switches at once.
      assert.equal(kidOf(await rotator.tokenFor(client.clientId, client.secret)), oldNext.kid);
      measured.push(...await Promise.all(others.map((t) => propagationDelay(t, client, oldNext.kid, newNext, answeredAt))));
    }
    console.log(`propagation delay: ${Math.max(...measured)} ms (KEY_SYNC_INTERVAL ${a.config.keySyncInterval} s; measured ${measured.join(', ')} ms)`);
    assert.ok(Math.max(...measured) <= a.config.keySyncInterval * 1000 + SYNC_MARGIN_MS);
  });

  it('KR-03 every instance serves the same JWKS and ETag, and every instance\'s tokens verify against every instance\'s JWKS', async () => {
    // All three have picked up the last rotation (previous test); give a tick for any trailing reload.
    await Promise.all(instances.map((t) => t.container.keys.tick()));
    const documents = await Promise.all(instances.map(fetchJwks));
    assert.equal(new Set(documents.map((d) => d.etag)).size, 1, documents.map((d) => d.etag).join(' '));
    const tokens = await Promise.all(instances.map((t) => t.tokenFor(client.clientId, client.secret)));
    assert.equal(new Set(tokens.map(kidOf)).size, 1);
    for (const token of tokens) {
      for (const { jwks } of documents) {
        const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: ISSUER, audience: ORDERS, typ: 'at+jwt' });
        assert.equal(payload.client_id, client.clientId);
      }
    }
    const rows = await keyRows(a);
    assert.equal(rows.filter((r) => r.state === 'active').length, 1);
    assert.equal(rows.length, 2 + 3, 'three rotations, one new key each');
    // An admin token of one instance is good on the others (one issuer, one key set).
    const res = await b.agent.get('/admin/keys').set('authorization', await bearer(c));
    assert.equal(res.status, 200);
  });

  it('KR-03 continuous issuance on all three during the rotations: no 5xx, zero verification failures across instances, always one active key', async () => {
    const { checked, samples, failures } = await load.finish();
    console.log(`three instances: ${checked} tokens checked against another instance's JWKS, ${samples} key-table samples, ${failures.length} failures`);
    assert.deepEqual(failures.slice(0, 10), []);
    assert.ok(checked >= 100, `only ${checked} tokens were checked`);
    assert.ok(samples >= 50, `only ${samples} key-table samples`);
    const counts = await eventCounts(a);
    assert.deepEqual(counts, { created: 2 + 3, activated: 1 + 3, retired: 3, revoked: 0 });
  });
});

describe('KR-03 two instances with clocks a few seconds apart', { skip: SKIP }, () => {
  let a: TestService;
  let b: TestService;
  let client: RegisteredClient;

  before(async () => {
    a = await startTestService(ENV);
    b = await startTestService(ENV, { database: a.database, keysDir: a.keysDir });
    client = await a.registerClient();
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
  });

  it('rotates on schedule exactly once although both find it due, and tokens verify across the skew', async () => {
    const keysBefore = await listKeys(a);
    const countsBefore = await eventCounts(a);
    // The rotation interval is over for both; b runs 3 s ahead of a.
    a.clock.advance(a.config.keyRotationInterval);
    b.clock.advance(b.config.keyRotationInterval + 3);
    const deadline = Date.now() + 2 * a.config.keySyncInterval * 1000 + SYNC_MARGIN_MS;
    while (Date.now() < deadline && (await eventCounts(a)).activated === countsBefore.activated) await sleep(50);
    // Two more ticks of each scheduler: neither rotates the fresh key again.
    await sleep(2 * a.config.keySyncInterval * 1000 + 200);
    assert.deepEqual(await eventCounts(a), { ...countsBefore, created: countsBefore.created + 1, activated: countsBefore.activated + 1, retired: countsBefore.retired + 1 });
    const rows = await keyRows(a);
    assert.equal(rows.filter((r) => r.state === 'active').length, 1);
    assert.equal(rows.find((r) => r.state === 'active')!.kid, onlyInState(keysBefore, 'next').kid);

    await Promise.all([a.container.keys.tick(), b.container.keys.tick()]);
    const [ja, jb] = await Promise.all([fetchJwks(a), fetchJwks(b)]);
    assert.equal(ja.etag, jb.etag);
    for (const t of [a, b]) {
      const token = await t.tokenFor(client.clientId, client.secret);
      for (const { jwks } of [ja, jb]) await jwtVerify(token, createLocalJWKSet(jwks), { issuer: ISSUER, audience: ORDERS, currentDate: a.clock.now() });
    }
    // Admin tokens of the instance ahead are good on the one behind, and the other way round.
    assert.equal((await a.agent.get('/admin/keys').set('authorization', await bearer(b))).status, 200);
    assert.equal((await b.agent.get('/admin/keys').set('authorization', await bearer(a))).status, 200);
  });
});

describe('crash consistency: a rotation that dies half-way', { skip: SKIP }, () => {
  let a: TestService;

  before(async () => {
    a = await startTestService(ENV);
  });
  after(() => a?.stop());

  it('leaves the key set unchanged when the rotation transaction fails after its first write', async () => {
    const rowsBefore = await keyRows(a);
    const countsBefore = await eventCounts(a);
    const active = rowsBefore.find((r) => r.state === 'active')!;
    const next = rowsBefore.find((r) => r.state === 'next')!;
    const now = a.clock.now();
    await assert.rejects(a.container.uow.transaction(async (stores) => {
      assert.equal(await stores.keys.transition(active.kid, 'active', 'retired', { retiredAt: now, expiresAt: now, wipePrivateKey: true }), true);
      assert.equal(await stores.keys.transition(next.kid, 'next', 'active', { activatedAt: now }), true);
      throw new Error('the process died here');
    }), (error: Error) => (error.cause as Error | undefined)?.message === 'the process died here');
    assert.deepEqual(await keyRows(a), rowsBefore);
    assert.deepEqual(await eventCounts(a), countsBefore);
  });

  it('leaves the key set unchanged when the connection of a half-done rotation drops, and a restarted instance has one active and one next key', async () => {
    const rowsBefore = await keyRows(a);
    const active = rowsBefore.find((r) => r.state === 'active')!;
    const dying = new pg.Client({ connectionString: a.database.url });
    await dying.connect();
    dying.on('error', () => undefined);
    await dying.query('BEGIN');
    await dying.query(`UPDATE "SigningKey" SET "state" = 'retired', "activeSlot" = NULL, "encryptedPrivateJwk" = '' WHERE "kid" = $1`, [active.kid]);
    // The process is killed: its connection goes away without COMMIT.
    (dying as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    await sleep(200);
    assert.deepEqual(await keyRows(a), rowsBefore);

    const countsBefore = await eventCounts(a);
    const restarted = await startTestService(ENV, { database: a.database, keysDir: a.keysDir });
    try {
      const keys = await listKeys(restarted);
      assert.equal(onlyInState(keys, 'active').kid, active.kid);
      assert.equal(onlyInState(keys, 'next').kid, rowsBefore.find((r) => r.state === 'next')!.kid);
      assert.deepEqual(await eventCounts(a), countsBefore, 'nothing needed repair');
      const client = await restarted.registerClient();
      assert.equal(kidOf(await restarted.tokenFor(client.clientId, client.secret)), active.kid);
    } finally {
      await restarted.stop();
    }
  });
});

describe('SIGNING_ALG change during a rolling restart', { skip: SKIP }, () => {
  let rs: TestService;
  let es: TestService;

  before(async () => {
    rs = await startTestService(ENV);
    es = await startTestService({ ...ENV, SIGNING_ALG: 'ES256' }, { database: rs.database, keysDir: rs.keysDir });
  });
  after(async () => {
    await es?.stop();
    await rs?.stop();
  });

  it('an instance still on the old SIGNING_ALG does not swap the new ES256 next key back', async () => {
    const keys = await listKeys(es);
    const next = onlyInState(keys, 'next');
    assert.equal(next.alg, 'ES256');
    await rs.container.keys.tick();
    await es.container.keys.tick();
    await rs.container.keys.tick();
    const after = await listKeys(rs);
    assert.equal(onlyInState(after, 'next').kid, next.kid);
    assert.equal(after.length, keys.length);
    const { jwks } = await fetchJwks(rs);
    assert.deepEqual(jwks.keys.map((k: JWK) => k.alg).sort(), ['ES256', 'RS256']);
  });
});
