import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { decodeJwt, exportJWK, generateKeyPair } from 'jose';
import pg from 'pg';
import type { Response } from 'supertest';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { startTestService, type RegisteredClient, type TestService } from '../../helpers/start-app.ts';
import { expectProblemDocument } from '../../helpers/problem.ts';

/** The request a supertest response answers (its typings omit it). */
function requestOf(res: Response): { method: string; path: string } {
  return (res as unknown as { req: { method: string; path: string } }).req;
}

/** 32 random bytes as base64url, unpadded: 256 bits (AD-02, conformance EnsureMinimumClientSecretEntropy). */
const SECRET_256_BITS = /^[A-Za-z0-9_-]{43}$/;

/** Every row of a table, read over a connection of our own (not through the service under test). */
async function tableRows(t: TestService, table: 'Client' | 'ClientSecret' | 'AuditEvent'): Promise<Record<string, unknown>[]> {
  if (t.database.provider === 'postgresql') {
    const client = new pg.Client({ connectionString: t.database.url });
    await client.connect();
    try {
      return (await client.query(`SELECT * FROM "${table}"`)).rows as Record<string, unknown>[];
    } finally {
      await client.end();
    }
  }
  const db = new Database(t.database.url.replace(/^file:/, ''), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(`SELECT * FROM "${table}"`).all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

/** RFC 9457 problem document with the fields contract §5 requires; for a 400, the failing fields. */
function expectProblem(res: Response, status: number, field?: string): void {
  const body = expectProblemDocument(res, status);
  if (status === 400) {
    if (field !== undefined) {
      const names = (body.invalid_params as { name: string }[]).map((p) => p.name);
      assert.ok(names.some((n) => n === field || n.startsWith(`${field}.`) || n.split(/, | \| /).includes(field)),
        `invalid_params names ${field}: ${JSON.stringify(body.invalid_params)}`);
    }
  }
}

describe('admin API: clients (AD-02 … AD-07)', () => {
  let t: TestService;
  let admin: string;

  before(async () => {
    t = await startTestService();
    admin = `Bearer ${await t.adminToken()}`;
  });
  after(() => t.stop());

  const post = (body: unknown) => t.agent.post('/admin/clients').set('authorization', admin).send(body as object);
  const rawPost = (text: string, path = '/admin/clients') =>
    t.agent.post(path).set('authorization', admin).set('content-type', 'application/json').send(text);
  const get = (path: string) => t.agent.get(path).set('authorization', admin);
  const patch = (id: string, body: unknown) => t.agent.patch(`/admin/clients/${id}`).set('authorization', admin).send(body as object);
  const rawPatch = (id: string, text: string) =>
    t.agent.patch(`/admin/clients/${id}`).set('authorization', admin).set('content-type', 'application/json').send(text);
  const del = (id: string) => t.agent.delete(`/admin/clients/${id}`).set('authorization', admin);
  const token = (clientId: string, secret: string) =>
    t.agent.post('/token').auth(clientId, secret).type('form').send({ grant_type: 'client_credentials' });
  const clientCount = () => t.container.uow.stores.clients.count();

  /** The list, followed to its end. */
  async function listAll(limit = 100): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let cursor: string | null = null;
    do {
      const res = await get(`/admin/clients?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(res.status, 200, res.text);
      items.push(...(res.body.items as Record<string, unknown>[]));
      cursor = res.body.next_cursor as string | null;
    } while (cursor !== null);
    return items;
  }

  describe('registration, reading, listing', () => {
    it('registers a client with 201, Location, no-store and a 256-bit secret shown once', async () => {
      const res = await post({
        client_id: 'c-reg',
        client_name: 'Orders service',
        scope: 'orders:read orders:write',
        audience: ['https://orders.internal'],
        access_token_ttl: 600,
      });
      assert.equal(res.status, 201, res.text);
      expectMatchesOpenApi(res, 'POST', '/admin/clients');
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.equal(new URL(res.headers.location!, t.url).pathname, '/admin/clients/c-reg');
      assert.match(res.body.client_secret, SECRET_256_BITS);
      assert.equal(res.body.client_secret_expires_at, 0);
      assert.equal(res.body.client_id, 'c-reg');
      assert.equal(res.body.client_name, 'Orders service');
      assert.equal(res.body.token_endpoint_auth_method, 'client_secret_basic');
      assert.deepEqual(res.body.grant_types, ['client_credentials']);
      assert.equal(res.body.scope, 'orders:read orders:write');
      assert.deepEqual(res.body.audience, ['https://orders.internal']);
      assert.equal(res.body.access_token_ttl, 600);
      assert.equal(res.body.subject, 'c-reg');
      assert.equal(res.body.disabled, false);

      const issued = await token('c-reg', res.body.client_secret);
      assert.equal(issued.status, 200, issued.text);
      assert.equal(issued.body.expires_in, 600);

      const [created] = await t.auditEvents({ type: 'client.created', clientId: 'c-reg' });
      assert.equal(created?.outcome, 'success');
      assert.equal(created?.requestId, res.headers['x-request-id']);
      assert.equal(created?.details?.actor, t.config.bootstrapAdmin.clientId);
    });

    it('generates a client_id when none is given, and a fresh secret for every client', async () => {
      const a = await post({ client_name: 'x' });
      const b = await post({ client_name: 'x' });
      assert.equal(a.status, 201, a.text);
      assert.equal(b.status, 201, b.text);
      expectMatchesOpenApi(a, 'POST', '/admin/clients');
      assert.match(a.body.client_id, /^[A-Za-z0-9][A-Za-z0-9._:@~-]+$/);
      assert.notEqual(a.body.client_id, b.body.client_id);
      assert.notEqual(a.body.client_secret, b.body.client_secret);
      assert.match(a.body.client_secret, SECRET_256_BITS);
      assert.equal(Buffer.from(a.body.client_secret, 'base64url').length, 32);
    });

    it('reads one client as the list shows it', async () => {
      const res = await get('/admin/clients/c-reg');
      assert.equal(res.status, 200, res.text);
      expectMatchesOpenApi(res, 'GET', '/admin/clients/{client_id}');
      assert.equal(res.body.client_id, 'c-reg');
      assert.equal(res.body.access_token_ttl, 600);
      const listed = (await listAll()).find((c) => c.client_id === 'c-reg');
      assert.deepEqual(listed, res.body);
    });

    it('AD-06 pages through the list with a cursor, each client exactly once, even while clients are added', async () => {
      const ids = Array.from({ length: 7 }, (_, i) => `c-page-${i}`);
      for (const id of ids) await t.registerClient({ client_id: id });
      const total = await clientCount();

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await get(`/admin/clients?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        assert.equal(res.status, 200, res.text);
        expectMatchesOpenApi(res, 'GET', '/admin/clients');
        assert.ok(res.body.items.length <= 3);
        seen.push(...res.body.items.map((c: { client_id: string }) => c.client_id));
        cursor = res.body.next_cursor;
        if (cursor !== null) assert.equal(res.body.items.length, 3, 'only the last page is short');
        // A client registered mid-paging must not make another one repeat or vanish.
        if (pages === 1) await t.registerClient({ client_id: 'c-page-late' });
        pages += 1;
      } while (cursor !== null && pages < 100);

      assert.equal(cursor, null, 'the last page has next_cursor null');
      assert.equal(new Set(seen).size, seen.length, `no client twice: ${seen.join(' ')}`);
      for (const id of ids) assert.equal(seen.filter((s) => s === id).length, 1, `${id} exactly once`);
      assert.ok(seen.length >= total, 'every client that existed before paging was listed');
      assert.ok(pages >= Math.ceil(total / 3));
    });

    it('AD-06 refuses page sizes outside 1..100 and cursors it did not issue with 400', async () => {
      for (const limit of ['1000000', '0', '-1', 'abc', '1e3', '101', '2.5', '']) {
        const res = await get(`/admin/clients?limit=${encodeURIComponent(limit)}`);
        expectProblem(res, 400, 'limit');
        expectMatchesOpenApi(res, 'GET', '/admin/clients');
      }
      const repeated = await get('/admin/clients?limit=1&limit=2');
      expectProblem(repeated, 400, 'limit');
      for (const cursor of ['!!!', 'abc', '%00', 'x'.repeat(10 * 1024), Buffer.from('\u0000\u0001').toString('base64url')]) {
        const res = await get(`/admin/clients?cursor=${encodeURIComponent(cursor)}`);
        expectProblem(res, 400, 'cursor');
        expectMatchesOpenApi(res, 'GET', '/admin/clients');
      }
    });
  });

  describe('AD-02 secret shown once', () => {
    let reg: Response;
    let secret: string;

    before(async () => {
      reg = await post({ client_id: 'c-once', client_name: 'x', scope: 'orders:read', audience: ['https://orders.internal'] });
      assert.equal(reg.status, 201, reg.text);
      secret = reg.body.client_secret;
    });

    it('AD-02 never returns the secret or its hash from GET, the list, PATCH or the audit API', async () => {
      const [stored] = (await tableRows(t, 'ClientSecret')).filter((r) => r.clientId === 'c-once');
      const hash = String(stored?.hash);
      const responses = [
        await get('/admin/clients/c-once'),
        await get('/admin/clients?limit=100'),
        await patch('c-once', { client_name: 'renamed' }),
        await get(`/admin/audit?client_id=c-once`),
      ];
      for (const res of responses) {
        assert.equal(res.status, 200, res.text);
        assert.ok(!res.text.includes(secret), `secret in ${requestOf(res).path}`);
        assert.ok(!res.text.includes(hash), `hash in ${requestOf(res).path}`);
        assert.doesNotMatch(res.text, /"client_secret(_expires_at)?"\s*:/, `client_secret field in ${requestOf(res).path}`);
        assert.doesNotMatch(res.text, /hash"\s*:|hmac-sha256/i, `a hash field in ${requestOf(res).path}`);
      }
      expectMatchesOpenApi(responses[0]!, 'GET', '/admin/clients/{client_id}');
      expectMatchesOpenApi(responses[2]!, 'PATCH', '/admin/clients/{client_id}');
    });

    it('AD-02 keeps the secret out of audit rows and log lines, and out of the database in clear', async () => {
      const stored = (await tableRows(t, 'ClientSecret')).filter((r) => r.clientId === 'c-once');
      assert.equal(stored.length, 1);
      const hash = String(stored[0]!.hash);
      assert.notEqual(hash, secret);
      assert.match(hash, /^hmac-sha256\.v2\.[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]{43}$/);

      const everything = [
        ...(await tableRows(t, 'ClientSecret')),
        ...(await tableRows(t, 'Client')),
        ...(await tableRows(t, 'AuditEvent')),
      ].map((row) => JSON.stringify(row));
      assert.equal(everything.filter((row) => row.includes(secret)).length, 0, 'no plaintext secret in the database');

      const audit = (await tableRows(t, 'AuditEvent')).map((row) => JSON.stringify(row));
      assert.ok(audit.some((row) => row.includes('client.created') && row.includes('c-once')));
      assert.equal(audit.filter((row) => row.includes(secret) || row.includes(hash)).length, 0, 'audit rows');
      assert.equal(t.logLines.filter((line) => line.includes(secret) || line.includes(hash)).length, 0, 'log lines');
    });
  });

  describe('PATCH', () => {
    let c: RegisteredClient;
    before(async () => {
      c = await t.registerClient({ client_id: 'c-patch' });
    });

    it('changes allowed fields, answers the client, and audits the changed field names', async () => {
      const res = await patch('c-patch', { client_name: 'Renamed', scope: 'orders:read', access_token_ttl: 120 });
      assert.equal(res.status, 200, res.text);
      expectMatchesOpenApi(res, 'PATCH', '/admin/clients/{client_id}');
      assert.equal(res.body.client_name, 'Renamed');
      assert.equal(res.body.scope, 'orders:read');
      assert.equal(res.body.access_token_ttl, 120);
      assert.deepEqual(res.body.audience, ['https://orders.internal'], 'fields absent from the body are unchanged');
      assert.equal(res.body.client_secret, undefined);

      const events = (await t.auditEvents({ type: 'client.updated', clientId: 'c-patch' }))
        .filter((e) => e.requestId === res.headers['x-request-id']);
      assert.equal(events.length, 1);
      assert.deepEqual(events[0]!.details?.changed, ['access_token_ttl', 'client_name', 'scope']);
      assert.equal(events[0]!.details?.actor, t.config.bootstrapAdmin.clientId);

      const issued = await token('c-patch', c.secret);
      assert.equal(issued.status, 200, issued.text);
      assert.equal(issued.body.scope, 'orders:read');
      assert.equal(issued.body.expires_in, 120);

      const cleared = await patch('c-patch', { access_token_ttl: null });
      assert.equal(cleared.status, 200, cleared.text);
      assert.equal(cleared.body.access_token_ttl, null);
    });

    it('AD-07 disabled:true blocks token requests and disabled:false restores them', async () => {
      const off = await patch('c-patch', { disabled: true });
      assert.equal(off.status, 200, off.text);
      assert.equal(off.body.disabled, true);
      const blocked = await token('c-patch', c.secret);
      assert.equal(blocked.status, 401, blocked.text);
      assert.equal(blocked.body.error, 'invalid_client');
      const denied = (await t.auditEvents({ type: 'token.denied', clientId: 'c-patch' }))
        .filter((e) => e.requestId === blocked.headers['x-request-id']);
      assert.equal(denied.length, 1);
      assert.equal(denied[0]!.reason, 'client_disabled');
      const [offEvent] = (await t.auditEvents({ type: 'client.updated', clientId: 'c-patch' }))
        .filter((e) => e.requestId === off.headers['x-request-id']);
      assert.deepEqual(offEvent?.details?.changed, ['disabled']);

      const on = await patch('c-patch', { disabled: false });
      assert.equal(on.status, 200, on.text);
      assert.equal(on.body.disabled, false);
      assert.equal((await token('c-patch', c.secret)).status, 200);
    });

    it('refuses an invalid PATCH body field by name and changes nothing', async () => {
      const before = await get('/admin/clients/c-patch');
      for (const [body, field] of [
        [{ disabled: 'yes' }, 'disabled'],
        [{ client_name: '' }, 'client_name'],
        [{ scope: 'a  b' }, 'scope'],
        [{ grant_types: ['password'] }, 'grant_types'],
      ] as const) {
        const res = await patch('c-patch', body);
        expectProblem(res, 400, field);
        expectMatchesOpenApi(res, 'PATCH', '/admin/clients/{client_id}');
      }
      const notObject = await rawPatch('c-patch', '[1,2]');
      expectProblem(notObject, 400, 'body');
      const notJson = await rawPatch('c-patch', '{"client_name":');
      expectProblem(notJson, 400);
      assert.deepEqual((await get('/admin/clients/c-patch')).body, before.body);
    });

    it('answers 404 for PATCH of an unknown client', async () => {
      const res = await patch('c-nosuch', { client_name: 'x' });
      expectProblem(res, 404);
      expectMatchesOpenApi(res, 'PATCH', '/admin/clients/{client_id}');
    });
  });

  describe('secret rotation', () => {
    it('returns the new secret once with no-store; without grace the old secret stops at once', async () => {
      const c = await t.registerClient({ client_id: 'c-rot' });
      const res = await t.agent.post('/admin/clients/c-rot/secret').set('authorization', admin);
      assert.equal(res.status, 200, res.text);
      expectMatchesOpenApi(res, 'POST', '/admin/clients/{client_id}/secret');
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.deepEqual(Object.keys(res.body).sort(), ['client_id', 'client_secret', 'previous_secret_expires_at']);
      assert.equal(res.body.client_id, 'c-rot');
      assert.match(res.body.client_secret, SECRET_256_BITS);
      assert.notEqual(res.body.client_secret, c.secret);
      assert.equal(res.body.previous_secret_expires_at, null);

      assert.equal((await token('c-rot', c.secret)).status, 401);
      assert.equal((await token('c-rot', res.body.client_secret)).status, 200);
      const [rotated] = await t.auditEvents({ type: 'client.secret_rotated', clientId: 'c-rot' });
      assert.equal(rotated?.requestId, res.headers['x-request-id']);
      assert.ok(!JSON.stringify(rotated).includes(res.body.client_secret));
      assert.ok(!(await get('/admin/clients/c-rot')).text.includes(res.body.client_secret));
    });

    it('keeps the old secret working for grace_seconds and says until when', async () => {
      const c = await t.registerClient({ client_id: 'c-rot-grace' });
      const before = Date.now();
      const res = await t.agent.post('/admin/clients/c-rot-grace/secret').set('authorization', admin).send({ grace_seconds: 300 });
      assert.equal(res.status, 200, res.text);
      expectMatchesOpenApi(res, 'POST', '/admin/clients/{client_id}/secret');
      const until = Date.parse(res.body.previous_secret_expires_at);
      assert.ok(until >= before + 299_000 && until <= Date.now() + 301_000, res.body.previous_secret_expires_at);
      assert.equal((await token('c-rot-grace', c.secret)).status, 200);
      assert.equal((await token('c-rot-grace', res.body.client_secret)).status, 200);
    });

    it('refuses bad rotation bodies and unknown clients', async () => {
      await t.registerClient({ client_id: 'c-rot-bad' });
      for (const [body, field] of [
        [{ grace_seconds: -1 }, 'grace_seconds'],
        [{ grace_seconds: 'soon' }, 'grace_seconds'],
        [{ grace_seconds: 30 * 86400 + 1 }, 'grace_seconds'],
        [{ client_secret: 'chosen-secret-chosen-secret-chosen-secret-1' }, 'client_secret'],
      ] as const) {
        const res = await t.agent.post('/admin/clients/c-rot-bad/secret').set('authorization', admin).send(body);
        expectProblem(res, 400, field);
        expectMatchesOpenApi(res, 'POST', '/admin/clients/{client_id}/secret');
      }
      const unknown = await t.agent.post('/admin/clients/c-nosuch/secret').set('authorization', admin);
      expectProblem(unknown, 404);
      expectMatchesOpenApi(unknown, 'POST', '/admin/clients/{client_id}/secret');
    });
  });

  describe('AD-03 mass assignment and prototype pollution', () => {
    const CHOSEN = 'chosen-secret-chosen-secret-chosen-secret-1';

    it('AD-03 refuses fields that cannot be set, naming each, on registration', async () => {
      const countBefore = await clientCount();
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ client_id: 'c-mass-1', client_secret: CHOSEN }, 'client_secret'],
        [{ client_id: 'c-mass-2', client_secret_hash: 'hmac-sha256.v1.AAAA' }, 'client_secret_hash'],
        [{ client_id: 'c-mass-3', created_at: '2000-01-01T00:00:00Z' }, 'created_at'],
        [{ client_id: 'c-mass-4', id: 'admin' }, 'id'],
        [{ client_id: 'c-mass-5', constructor: { prototype: { isAdmin: true } } }, 'constructor'],
        [{ client_id: 'c-mass-6', disabled: false }, 'disabled'],
        [{ client_id: 'c-mass-7', client_secret_expires_at: 0 }, 'client_secret_expires_at'],
      ];
      for (const [extra, field] of cases) {
        const res = await post({ client_name: 'x', ...extra });
        expectProblem(res, 400, field);
        expectMatchesOpenApi(res, 'POST', '/admin/clients');
        assert.ok(JSON.parse(res.text).detail.includes(field), `detail names ${field}`);
        expectProblem(await get(`/admin/clients/${String(extra.client_id)}`), 404);
      }
      assert.equal(await clientCount(), countBefore, 'nothing was registered');
      assert.equal((await token('c-mass-1', CHOSEN)).status, 401, 'a chosen secret never works');
    });

    it('AD-03 refuses a __proto__ member sent as raw JSON, and pollutes nothing', async () => {
      const res = await rawPost('{"client_id":"c-proto","client_name":"x","__proto__":{"isAdmin":true,"scope":"admin:clients"}}');
      expectProblem(res, 400, '__proto__');
      expectMatchesOpenApi(res, 'POST', '/admin/clients');
      expectProblem(await get('/admin/clients/c-proto'), 404);

      const nested = await rawPost('{"client_name":"x","audience":["https://orders.internal"],"jwks":{"__proto__":{"isAdmin":true}}}');
      expectProblem(nested, 400);
      assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
      assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'isAdmin'), false);
      assert.equal(({} as Record<string, unknown>).scope, undefined);
    });

    it('AD-03 refuses the same fields on PATCH; the chosen secret never works and nothing changes', async () => {
      const c = await t.registerClient({ client_id: 'c-mass-patch' });
      const before = (await get('/admin/clients/c-mass-patch')).body;
      for (const [body, field] of [
        [{ client_secret: CHOSEN }, 'client_secret'],
        [{ client_secret_hash: 'hmac-sha256.v1.AAAA' }, 'client_secret_hash'],
        [{ created_at: '2000-01-01T00:00:00Z' }, 'created_at'],
        [{ id: 'c-other' }, 'id'],
        [{ client_id: 'c-other' }, 'client_id'],
        [{ constructor: { prototype: { isAdmin: true } } }, 'constructor'],
      ] as const) {
        const res = await patch('c-mass-patch', body);
        expectProblem(res, 400, field);
        expectMatchesOpenApi(res, 'PATCH', '/admin/clients/{client_id}');
      }
      const proto = await rawPatch('c-mass-patch', '{"client_name":"y","__proto__":{"isAdmin":true,"disabled":true}}');
      expectProblem(proto, 400, '__proto__');

      assert.deepEqual((await get('/admin/clients/c-mass-patch')).body, before);
      assert.equal((await token('c-mass-patch', CHOSEN)).status, 401, 'a chosen secret never works');
      assert.equal((await token('c-mass-patch', c.secret)).status, 200, 'the issued secret still does');
      assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
      assert.equal(({} as Record<string, unknown>).disabled, undefined);
      assert.equal((await listAll()).some((client) => 'isAdmin' in client), false);
    });
  });

  describe('AD-04 metadata validation', () => {
    const base = { client_name: 'x', scope: 'orders:read', audience: ['https://orders.internal'] };
    let publicJwk: Record<string, unknown>;
    let privateJwk: Record<string, unknown>;

    before(async () => {
      const pair = await generateKeyPair('RS256', { extractable: true });
      publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
      privateJwk = { ...(await exportJWK(pair.privateKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    });

    /** 400 naming the field, the response as documented, nothing registered, no key material echoed. */
    async function expectRefused(body: Record<string, unknown>, field: string) {
      const countBefore = await clientCount();
      const res = await post({ ...base, ...body });
      expectProblem(res, 400, field);
      expectMatchesOpenApi(res, 'POST', '/admin/clients');
      assert.ok(!res.text.includes(String(privateJwk.d)), 'private key material is not echoed');
      assert.equal(await clientCount(), countBefore);
    }

    it('AD-04 (a) refuses private_key_jwt with neither jwks nor jwks_uri, or with both', async () => {
      await expectRefused({ token_endpoint_auth_method: 'private_key_jwt' }, 'jwks');
      await expectRefused({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicJwk] }, jwks_uri: 'https://keys.example/jwks.json' }, 'jwks_uri');
      const ok = await post({ ...base, token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicJwk] } });
      assert.equal(ok.status, 201, ok.text);
      expectMatchesOpenApi(ok, 'POST', '/admin/clients');
      assert.equal(ok.body.client_secret, undefined, 'a key-based client gets no secret');
    });

    it('AD-04 (b) refuses a jwks holding a private member or a symmetric key', async () => {
      await expectRefused({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [privateJwk] } }, 'jwks');
      await expectRefused({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ ...publicJwk, d: 'AAAA' }] } }, 'jwks');
      await expectRefused({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0', kid: 'h' }] } }, 'jwks');
      await expectRefused({ token_endpoint_auth_method: 'self_signed_tls_client_auth', jwks: { keys: [privateJwk] } }, 'jwks');
    });

    it('AD-04 (c) refuses tls_client_auth with two subject fields, or none', async () => {
      await expectRefused({
        token_endpoint_auth_method: 'tls_client_auth',
        tls_client_auth_san_uri: 'spiffe://cluster.local/ns/shop/sa/orders',
        tls_client_auth_san_dns: 'orders.shop.svc',
      }, 'tls_client_auth_san_uri');
      await expectRefused({ token_endpoint_auth_method: 'tls_client_auth' }, 'tls_client_auth_subject_dn');
    });

    it('AD-04 (d) refuses jwks_uri values pointing at cloud metadata, loopback or files', async () => {
      for (const uri of ['http://169.254.169.254/latest/meta-data/', 'https://169.254.169.254/jwks', 'http://localhost/jwks.json', 'https://localhost/jwks.json', 'https://127.0.0.1/jwks', 'file:///etc/passwd']) {
        await expectRefused({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: uri }, 'jwks_uri');
      }
    });

    it('AD-04 (e) refuses token_endpoint_auth_method none and client_secret_jwt', async () => {
      for (const method of ['none', 'client_secret_jwt', 'CLIENT_SECRET_BASIC', '']) {
        await expectRefused({ token_endpoint_auth_method: method }, 'token_endpoint_auth_method');
      }
    });

    it('AD-04 refuses jwks, jwks_uri and tls_client_auth_* fields on a secret client, at registration and on PATCH', async () => {
      for (const [extra, field] of [
        [{ jwks: { keys: [publicJwk] } }, 'jwks'],
        [{ jwks_uri: 'https://keys.example/jwks.json' }, 'jwks_uri'],
        [{ tls_client_auth_subject_dn: 'CN=orders' }, 'tls_client_auth_subject_dn'],
        [{ tls_client_auth_san_uri: 'spiffe://cluster.local/ns/shop/sa/orders' }, 'tls_client_auth_san_uri'],
      ] as const) {
        await expectRefused(extra, field);
      }
      await t.registerClient({ client_id: 'c-meta-patch' });
      const res = await patch('c-meta-patch', { jwks_uri: 'https://keys.example/jwks.json' });
      expectProblem(res, 400, 'jwks_uri');
      expectMatchesOpenApi(res, 'PATCH', '/admin/clients/{client_id}');
    });

    it('AD-04 (f) refuses an access_token_ttl above MAX_ACCESS_TOKEN_TTL, at registration and on PATCH', async () => {
      const max = t.config.maxAccessTokenTtl;
      await expectRefused({ access_token_ttl: max + 1 }, 'access_token_ttl');
      for (const ttl of [0, -5, 1.5, '900']) await expectRefused({ access_token_ttl: ttl }, 'access_token_ttl');
      const atMax = await post({ ...base, access_token_ttl: max });
      assert.equal(atMax.status, 201, atMax.text);
      const patched = await patch(atMax.body.client_id, { access_token_ttl: max + 1 });
      expectProblem(patched, 400, 'access_token_ttl');
    });

    it('AD-04 (g) refuses audiences that are not absolute URIs, a wildcard, or the issuer itself', async () => {
      for (const audience of ['orders', '/orders', '*', 'https://orders.internal#frag', '', t.config.issuer, 'https://orders .internal']) {
        await expectRefused({ audience: [audience] }, 'audience');
      }
      await expectRefused({ audience: 'https://orders.internal' }, 'audience');
      await expectRefused({ audience: ['https://orders.internal', 'https://orders.internal'] }, 'audience');
      await t.registerClient({ client_id: 'c-aud-patch' });
      expectProblem(await patch('c-aud-patch', { audience: ['*'] }), 400, 'audience');
    });

    it('refuses a missing client_name, bad scopes and a body that is not a JSON object', async () => {
      expectProblem(await post({ scope: 'orders:read' }), 400, 'client_name');
      expectProblem(await post({ client_name: 'x', scope: 'orders:read\norders:write' }), 400, 'scope');
      expectProblem(await post({ client_name: 'x', scope: 'a"b' }), 400, 'scope');
      expectProblem(await post({ client_name: 'line\nbreak' }), 400, 'client_name');
      expectProblem(await rawPost('[]'), 400, 'body');
      expectProblem(await rawPost('"x"'), 400);
      expectProblem(await rawPost('{"client_name":'), 400);
      const form = await t.agent.post('/admin/clients').set('authorization', admin).type('form').send({ client_name: 'x' });
      expectProblem(form, 415);
      expectMatchesOpenApi(form, 'POST', '/admin/clients');
    });
  });

  describe('AD-05 identity collisions', () => {
    before(async () => {
      await t.registerClient({ client_id: 'c-dup' });
      await t.registerClient({ client_id: 'c-subj', subject: 'spiffe://cluster.local/ns/shop/sa/orders' });
    });

    it('AD-05 answers 409 for a client_id already taken, and for one differing only by case', async () => {
      const countBefore = await clientCount();
      for (const id of ['c-dup', 'C-DUP', 'C-dup']) {
        const res = await post({ client_id: id, client_name: 'x' });
        expectProblem(res, 409);
        expectMatchesOpenApi(res, 'POST', '/admin/clients');
      }
      assert.equal(await clientCount(), countBefore);
      assert.equal((await t.auditEvents({ type: 'client.created', clientId: 'C-DUP' })).length, 0);
    });

    it('AD-05 refuses look-alike ids: NFD forms, Cyrillic letters, full-width digits', async () => {
      await t.registerClient({ client_id: 'cafe-orders' });
      const countBefore = await clientCount();
      for (const id of ['cafe\u0301-orders', 'caf\u00e9-orders', 'c-\u0434up', 'c-d\u0443p', '\u0441-dup', 'c-dup\uff11', 'c-dup\u200b']) {
        const res = await post({ client_id: id, client_name: 'x' });
        assert.ok(res.status === 400 || res.status === 409, `${JSON.stringify(id)}: ${res.status}`);
        expectProblem(res, res.status, res.status === 400 ? 'client_id' : undefined);
      }
      assert.equal(await clientCount(), countBefore);
    });

    it("AD-05 answers 409 for a subject equal to another client's sub, however it came to be", async () => {
      const countBefore = await clientCount();
      // Another client's explicit subject.
      const sameSubject = await post({ client_name: 'x', subject: 'spiffe://cluster.local/ns/shop/sa/orders' });
      expectProblem(sameSubject, 409);
      expectMatchesOpenApi(sameSubject, 'POST', '/admin/clients');
      // Another client's default subject (its client_id).
      expectProblem(await post({ client_name: 'x', subject: 'c-dup' }), 409);
      // A new client_id whose default subject is another client's explicit subject.
      await t.registerClient({ client_id: 'c-subj-2', subject: 'c-future' });
      expectProblem(await post({ client_id: 'c-future', client_name: 'x' }), 409);
      assert.equal(await clientCount(), countBefore + 1);

      // PATCH cannot create the collision either.
      const patched = await patch('c-subj-2', { subject: 'c-dup' });
      expectProblem(patched, 409);
      expectMatchesOpenApi(patched, 'PATCH', '/admin/clients/{client_id}');
      assert.equal((await get('/admin/clients/c-subj-2')).body.subject, 'c-future');

      const subjects = (await listAll()).map((c) => c.subject);
      assert.equal(new Set(subjects).size, subjects.length, 'no two clients share a sub');
    });

    it('AD-05 tokens of different clients never share a sub', async () => {
      const a = await t.registerClient({ client_id: 'c-sub-a' });
      const b = await t.registerClient({ client_id: 'c-sub-b', subject: 'workload-b' });
      const subA = decodeJwt(await t.tokenFor(a.clientId, a.secret)).sub;
      const subB = decodeJwt(await t.tokenFor(b.clientId, b.secret)).sub;
      assert.equal(subA, 'c-sub-a');
      assert.equal(subB, 'workload-b');
      expectProblem(await post({ client_id: 'workload-b', client_name: 'x' }), 409);
    });
  });

  describe('AD-07 lifecycle and object access', () => {
    it('AD-07 DELETE answers 204; then /token is invalid_client, GET is 404 and a second DELETE is 404', async () => {
      const c = await t.registerClient({ client_id: 'c-del' });
      assert.equal((await token('c-del', c.secret)).status, 200);
      const res = await del('c-del');
      assert.equal(res.status, 204, res.text);
      expectMatchesOpenApi(res, 'DELETE', '/admin/clients/{client_id}');
      assert.equal(res.text, '');

      const refused = await token('c-del', c.secret);
      assert.equal(refused.status, 401, refused.text);
      assert.equal(refused.body.error, 'invalid_client');
      assert.match(refused.headers['www-authenticate'] ?? '', /^Basic /);
      const denied = (await t.auditEvents({ type: 'token.denied', clientId: 'c-del' }))
        .filter((e) => e.requestId === refused.headers['x-request-id']);
      assert.equal(denied.length, 1);

      const gone = await get('/admin/clients/c-del');
      expectProblem(gone, 404);
      expectMatchesOpenApi(gone, 'GET', '/admin/clients/{client_id}');
      const again = await del('c-del');
      expectProblem(again, 404);
      expectMatchesOpenApi(again, 'DELETE', '/admin/clients/{client_id}');
      expectProblem(await t.agent.post('/admin/clients/c-del/secret').set('authorization', admin), 404);
      assert.equal((await tableRows(t, 'ClientSecret')).filter((r) => r.clientId === 'c-del').length, 0, 'its secrets are gone');

      const deleted = await t.auditEvents({ type: 'client.deleted', clientId: 'c-del' });
      assert.equal(deleted.length, 1, 'only the successful DELETE is audited as client.deleted');
      assert.equal(deleted[0]!.requestId, res.headers['x-request-id']);
    });

    it('AD-07 a client re-registered under a deleted id does not inherit the old secret', async () => {
      const old = await t.registerClient({ client_id: 'c-reborn' });
      assert.equal((await del('c-reborn')).status, 204);
      const reborn = await t.registerClient({ client_id: 'c-reborn' });
      assert.equal((await token('c-reborn', old.secret)).status, 401);
      assert.equal((await token('c-reborn', reborn.secret)).status, 200);
    });

    it('AD-07 answers 404 or 400 for odd ids, never 500 and never another resource', async () => {
      const ids = ['..%2Fkeys', '..%2F..%2Fadmin%2Fkeys', '%00', 'c-dup%00', '%2e%2e', 'x'.repeat(10 * 1024), '%C0%AE', '%E2%80%AE', 'c-dup%0a'];
      for (const id of ids) {
        for (const res of [await get(`/admin/clients/${id}`), await patch(id, { client_name: 'x' }), await del(id)]) {
          assert.ok(res.status === 404 || res.status === 400, `${requestOf(res).method} ${id.slice(0, 40)}: ${res.status} ${res.text.slice(0, 200)}`);
          expectProblem(res, res.status);
          assert.ok(!res.text.includes('"kid"'), 'no key listing');
        }
      }
      expectMatchesOpenApi(await get('/admin/clients/..%2Fkeys'), 'GET', '/admin/clients/{client_id}');
      assert.equal((await get('/admin/clients/c-dup')).status, 200, 'c-dup is untouched');
    });

    it('AD-07 answers PUT and TRACE with 405 and an Allow header', async () => {
      const cases = [
        { path: '/admin/clients', template: '/admin/clients', allow: ['GET', 'POST'] },
        { path: '/admin/clients/c-dup', template: '/admin/clients/{client_id}', allow: ['DELETE', 'GET', 'PATCH'] },
        { path: '/admin/clients/c-dup/secret', template: '/admin/clients/{client_id}/secret', allow: ['POST'] },
      ];
      for (const { path, template, allow } of cases) {
        for (const method of ['put', 'trace'] as const) {
          const res = await t.agent[method](path).set('authorization', admin).send({ client_name: 'x' });
          expectProblem(res, 405);
          expectMatchesOpenApi(res, method.toUpperCase(), template);
          assert.deepEqual(String(res.headers.allow).split(/\s*,\s*/).sort(), allow, `${method} ${path}`);
        }
      }
      assert.equal((await get('/admin/clients/c-dup')).body.client_name, 'test client', 'PUT changed nothing');
    });

    it('answers unknown admin paths with a 404 problem', async () => {
      const res = await get('/admin/nothing-here');
      expectProblem(res, 404);
    });
  });
});
