import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Response } from 'supertest';
import { expectMatchesOpenApi } from '../helpers/openapi.ts';
import { expectProblemDocument } from '../helpers/problem.ts';
import { startTestService, type TestService } from '../helpers/start-app.ts';

/**
 * /admin/trusted-issuers: CRUD, every bad input a 400 naming its field, and the privilege rule
 * (reads admin:clients, writes every admin scope), with the issuer.* audit events.
 */

const ALL_ADMIN_SCOPES = 'admin:clients admin:keys admin:audit';

async function publicJwk(alg: 'RS256' | 'ES256' | 'EdDSA', extra: Partial<JWK> = {}, options: Record<string, unknown> = {}): Promise<JWK> {
  const { publicKey } = await generateKeyPair(alg, { extractable: true, ...options });
  return { ...(await exportJWK(publicKey)), ...extra };
}

function expectFieldProblem(res: Response, field: string): void {
  const body = expectProblemDocument(res, 400);
  const names = (body.invalid_params as { name: string }[]).map((p) => p.name);
  assert.ok(names.some((n) => n === field || n.startsWith(`${field}.`) || n.split(/, | \| /).includes(field)),
    `invalid_params names ${field}: ${JSON.stringify(body.invalid_params)}`);
}

describe('admin API: trusted issuers', () => {
  let t: TestService;
  let full: string;
  let narrow: string;
  let keysOnly: string;
  let ec: JWK;
  let rsa: JWK;

  before(async () => {
    t = await startTestService();
    full = `Bearer ${await t.adminToken()}`;
    const adminAudience = `${t.config.issuer}/admin`;
    const ops = await t.registerClient({ client_id: 'c-ops', scope: 'admin:clients', audience: [adminAudience] });
    narrow = `Bearer ${await t.tokenFor(ops.clientId, ops.secret)}`;
    const keyAdmin = await t.registerClient({ client_id: 'c-keys', scope: 'admin:keys', audience: [adminAudience] });
    keysOnly = `Bearer ${await t.tokenFor(keyAdmin.clientId, keyAdmin.secret)}`;
    ec = await publicJwk('ES256', { kid: 'ec-1' });
    rsa = await publicJwk('RS256', { kid: 'rsa-1' });
  });
  after(() => t.stop());

  const post = (body: unknown, auth = full) => t.agent.post('/admin/trusted-issuers').set('authorization', auth).send(body as object);
  const get = (path: string, auth = full) => t.agent.get(path).set('authorization', auth);
  const patch = (id: string, body: unknown, auth = full) => t.agent.patch(`/admin/trusted-issuers/${id}`).set('authorization', auth).send(body as object);
  const del = (id: string, auth = full) => t.agent.delete(`/admin/trusted-issuers/${id}`).set('authorization', auth);
  const eventsOf = async (res: Response, type: string) => (await t.auditEvents({ type })).filter((e) => e.requestId === res.headers['x-request-id']);
  const registered = async (body: Record<string, unknown>) => {
    const res = await post(body);
    assert.equal(res.status, 201, res.text);
    return res.body as Record<string, unknown> & { id: string };
  };

  describe('registration, reading, listing', () => {
    it('registers an issuer with a jwks_uri: 201, Location, the defaults, and issuer.created', async () => {
      const res = await post({
        issuer: 'https://idp.example.com/',
        jwks_uri: 'https://idp.example.com/.well-known/jwks.json',
        audiences: ['https://api.example.com'],
        description: 'Corporate sign-in',
      });
      assert.equal(res.status, 201, res.text);
      expectMatchesOpenApi(res, 'POST', '/admin/trusted-issuers');
      assert.match(res.body.id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
      assert.equal(new URL(res.headers.location!, t.url).pathname, `/admin/trusted-issuers/${res.body.id}`);
      assert.deepEqual({ ...res.body, id: undefined, created_at: undefined, updated_at: undefined }, {
        id: undefined,
        issuer: 'https://idp.example.com/',
        jwks_uri: 'https://idp.example.com/.well-known/jwks.json',
        jwks: null,
        audiences: ['https://api.example.com'],
        algorithms: ['RS256'],
        subject_claim: 'sub',
        max_token_age: null,
        description: 'Corporate sign-in',
        disabled: false,
        created_at: undefined,
        updated_at: undefined,
      });
      const [created] = await eventsOf(res, 'issuer.created');
      assert.equal(created?.outcome, 'success');
      assert.deepEqual(created?.audience, ['https://api.example.com']);
      assert.equal(created?.details?.actor, t.config.bootstrapAdmin.clientId);
      assert.equal(created?.details?.trusted_issuer_id, res.body.id);
      assert.equal(created?.details?.issuer, 'https://idp.example.com/');
      assert.equal(created?.details?.key_source, 'jwks_uri');

      const one = await get(`/admin/trusted-issuers/${res.body.id}`);
      assert.equal(one.status, 200);
      expectMatchesOpenApi(one, 'GET', '/admin/trusted-issuers/{id}');
      assert.deepEqual(one.body, res.body);
      assert.equal((await t.container.trustedIssuerRegistry.find('https://idp.example.com/'))?.id, res.body.id, 'the registry knows it at once');
    });

    it('registers an issuer with static keys, and keeps only the keys member of the JWK Set', async () => {
      const res = await post({
        issuer: 'https://kubernetes.default.svc.cluster.local',
        jwks: { keys: [ec, rsa], extra: 'dropped' },
        audiences: ['https://identity.example', 'vault'],
        algorithms: ['ES256', 'RS256'],
        subject_claim: 'sub',
        max_token_age: 3600,
      });
      assert.equal(res.status, 201, res.text);
      expectMatchesOpenApi(res, 'POST', '/admin/trusted-issuers');
      assert.deepEqual(res.body.jwks, { keys: [ec, rsa] });
      assert.equal(res.body.jwks_uri, null);
      assert.equal(res.body.max_token_age, 3600);
      assert.deepEqual(res.body.algorithms, ['ES256', 'RS256']);
      assert.equal((await eventsOf(res, 'issuer.created'))[0]?.details?.key_source, 'jwks');
    });

    it('lists in creation order, pages with an opaque cursor, and filters by the exact issuer', async () => {
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push((await registered({ issuer: `https://paging-${i}.example`, jwks_uri: `https://paging-${i}.example/jwks`, audiences: ['a'] })).id);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await get(`/admin/trusted-issuers?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        assert.equal(res.status, 200, res.text);
        expectMatchesOpenApi(res, 'GET', '/admin/trusted-issuers');
        assert.ok(res.body.items.length <= 2);
        seen.push(...res.body.items.map((i: { id: string }) => i.id));
        cursor = res.body.next_cursor;
      } while (cursor !== null);
      assert.deepEqual(seen, [...seen].sort(), 'oldest first');
      assert.equal(new Set(seen).size, seen.length, 'each once');
      for (const id of ids) assert.ok(seen.includes(id));

      const filtered = await get(`/admin/trusted-issuers?issuer=${encodeURIComponent('https://paging-1.example')}`);
      assert.equal(filtered.status, 200);
      assert.deepEqual(filtered.body.items.map((i: { id: string }) => i.id), [ids[1]]);
      assert.deepEqual((await get('/admin/trusted-issuers?issuer=https%3A%2F%2Fpaging-1.example%2F')).body.items, [], 'exact comparison: a trailing slash is another issuer');
    });

    it('answers 409 for an issuer already registered, and registers nothing', async () => {
      await registered({ issuer: 'https://twice.example', jwks_uri: 'https://twice.example/jwks', audiences: ['a'] });
      const res = await post({ issuer: 'https://twice.example', jwks: { keys: [ec] }, algorithms: ['ES256'], audiences: ['b'] });
      const problem = expectProblemDocument(res, 409);
      expectMatchesOpenApi(res, 'POST', '/admin/trusted-issuers');
      assert.match(String(problem.detail), /already registered/);
      assert.equal((await eventsOf(res, 'issuer.created')).length, 0);
    });

    it('answers 404 for an unknown or impossible id, and 405 with Allow for other methods', async () => {
      for (const id of ['01JD7Q3V8M5X2K9T4R6N0B1C2D', 'abc', '..%2Fclients', 'x'.repeat(300)]) {
        const res = await get(`/admin/trusted-issuers/${id}`);
        expectProblemDocument(res, 404);
        expectMatchesOpenApi(res, 'GET', '/admin/trusted-issuers/{id}');
      }
      const put = await t.agent.put('/admin/trusted-issuers').set('authorization', full).send({});
      expectProblemDocument(put, 405);
      assert.equal(put.headers.allow, 'GET, POST');
      expectMatchesOpenApi(put, 'PUT', '/admin/trusted-issuers');
    });

    it('refuses a bad limit or cursor with 400', async () => {
      for (const q of ['limit=0', 'limit=abc', 'limit=101', `cursor=${'A'.repeat(250)}`, 'cursor=%21%21', 'issuer=']) {
        const res = await get(`/admin/trusted-issuers?${q}`);
        expectProblemDocument(res, 400);
        expectMatchesOpenApi(res, 'GET', '/admin/trusted-issuers');
      }
    });
  });

  describe('changes', () => {
    it('PATCH changes fields, switches from jwks_uri to static keys, and records issuer.updated with the fields changed', async () => {
      const { id } = await registered({ issuer: 'https://patch.example', jwks_uri: 'https://patch.example/jwks', audiences: ['a'] });
      const res = await patch(id, { jwks_uri: null, jwks: { keys: [ec] }, algorithms: ['ES256'], audiences: ['a', 'b'], max_token_age: 600, disabled: true });
      assert.equal(res.status, 200, res.text);
      expectMatchesOpenApi(res, 'PATCH', '/admin/trusted-issuers/{id}');
      assert.equal(res.body.jwks_uri, null);
      assert.deepEqual(res.body.jwks, { keys: [ec] });
      assert.deepEqual(res.body.audiences, ['a', 'b']);
      assert.equal(res.body.disabled, true);
      assert.equal(res.body.max_token_age, 600);
      const [updated] = await eventsOf(res, 'issuer.updated');
      assert.deepEqual(updated?.details?.changed, ['algorithms', 'audiences', 'disabled', 'jwks', 'jwks_uri', 'max_token_age']);
      assert.equal(updated?.details?.trusted_issuer_id, id);

      const cleared = await patch(id, { max_token_age: null, description: 'now static' });
      assert.equal(cleared.status, 200, cleared.text);
      assert.equal(cleared.body.max_token_age, null);
      assert.equal(cleared.body.description, 'now static');
      assert.deepEqual(cleared.body.jwks, { keys: [ec] }, 'fields absent from the body stay');
      assert.equal((await t.container.trustedIssuerRegistry.find('https://patch.example'))?.description, 'now static', 'the registry holds the change at once');
    });

    it('DELETE answers 204, then 404, and records issuer.deleted once', async () => {
      const { id } = await registered({ issuer: 'https://delete.example', jwks_uri: 'https://delete.example/jwks', audiences: ['a'] });
      const res = await del(id);
      assert.equal(res.status, 204);
      expectMatchesOpenApi(res, 'DELETE', '/admin/trusted-issuers/{id}');
      const [deleted] = await eventsOf(res, 'issuer.deleted');
      assert.equal(deleted?.details?.issuer, 'https://delete.example');
      assert.equal(await t.container.trustedIssuerRegistry.find('https://delete.example'), undefined);
      expectProblemDocument(await get(`/admin/trusted-issuers/${id}`), 404);
      expectProblemDocument(await del(id), 404);
      assert.equal((await t.auditEvents({ type: 'issuer.deleted' })).filter((e) => e.details?.trusted_issuer_id === id).length, 1);
    });
  });

  describe('bad input: 400 naming the field, nothing stored', () => {
    const base = { issuer: 'https://bad.example', jwks_uri: 'https://bad.example/jwks', audiences: ['a'] };
    const cases: Array<[string, string, () => Record<string, unknown> | unknown]> = [];
    const add = (name: string, field: string, body: () => unknown) => cases.push([name, field, body]);
    add('no issuer', 'issuer', () => ({ ...base, issuer: undefined }));
    add('an http issuer', 'issuer', () => ({ ...base, issuer: 'http://bad.example' }));
    add('a relative issuer', 'issuer', () => ({ ...base, issuer: '/bad' }));
    add('an issuer with a query', 'issuer', () => ({ ...base, issuer: 'https://bad.example/?tenant=1' }));
    add('an issuer with a fragment', 'issuer', () => ({ ...base, issuer: 'https://bad.example/#x' }));
    add('an issuer with credentials', 'issuer', () => ({ ...base, issuer: 'https://user:pw@bad.example' }));
    add('an issuer with a space', 'issuer', () => ({ ...base, issuer: 'https://bad.example/a b' }));
    add('an issuer that is not a string', 'issuer', () => ({ ...base, issuer: 42 }));
    add('an issuer over 2048 characters', 'issuer', () => ({ ...base, issuer: `https://bad.example/${'a'.repeat(2048)}` }));
    add('no audiences', 'audiences', () => ({ ...base, audiences: undefined }));
    add('an empty audience list', 'audiences', () => ({ ...base, audiences: [] }));
    add('a repeated audience', 'audiences', () => ({ ...base, audiences: ['a', 'a'] }));
    add('an empty audience', 'audiences', () => ({ ...base, audiences: [''] }));
    add('an audience with a space', 'audiences', () => ({ ...base, audiences: ['a b'] }));
    add('alg none', 'algorithms', () => ({ ...base, algorithms: ['none'] }));
    add('HS256', 'algorithms', () => ({ ...base, algorithms: ['HS256'] }));
    add('no algorithm', 'algorithms', () => ({ ...base, algorithms: [] }));
    add('a repeated algorithm', 'algorithms', () => ({ ...base, algorithms: ['RS256', 'RS256'] }));
    add('both jwks and jwks_uri', 'jwks', () => ({ ...base, jwks: { keys: [rsa] } }));
    add('neither jwks nor jwks_uri', 'jwks_uri', () => ({ ...base, jwks_uri: undefined }));
    add('a jwks_uri over http', 'jwks_uri', () => ({ ...base, jwks_uri: 'http://bad.example/jwks' }));
    add('a jwks_uri at the metadata address', 'jwks_uri', () => ({ ...base, jwks_uri: 'https://169.254.169.254/latest/' }));
    add('a jwks_uri at localhost', 'jwks_uri', () => ({ ...base, jwks_uri: 'https://localhost/jwks' }));
    add('a file: jwks_uri', 'jwks_uri', () => ({ ...base, jwks_uri: 'file:///etc/passwd' }));
    add('a private key in jwks', 'jwks', () => ({ ...base, jwks_uri: undefined, jwks: { keys: [{ ...rsa, d: 'AAAA' }] } }));
    add('a symmetric key in jwks', 'jwks', () => ({ ...base, jwks_uri: undefined, jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }));
    add('an empty JWK Set', 'jwks', () => ({ ...base, jwks_uri: undefined, jwks: { keys: [] } }));
    add('21 keys', 'jwks', () => ({ ...base, jwks_uri: undefined, jwks: { keys: Array.from({ length: 21 }, (_, i) => ({ ...rsa, kid: `k${i}` })) } }));
    add('a JWK Set over 32 KiB', 'jwks', () => ({ ...base, jwks_uri: undefined, jwks: { keys: [{ ...rsa, x5u: 'x'.repeat(33_000) }] } }));
    add('a repeated kid', 'jwks', () => ({ ...base, jwks_uri: undefined, jwks: { keys: [rsa, { ...rsa }] } }));
    add('an encryption key', 'jwks', () => ({ ...base, jwks_uri: undefined, jwks: { keys: [{ ...rsa, use: 'enc' }] } }));
    add('an EC key with only RS256 allowed', 'jwks', () => ({ ...base, jwks_uri: undefined, jwks: { keys: [ec] }, algorithms: ['RS256'] }));
    add('a key whose alg is not allowed', 'jwks', () => ({ ...base, jwks_uri: undefined, jwks: { keys: [{ ...rsa, alg: 'PS256' }] }, algorithms: ['RS256'] }));
    add('a key with alg HS256', 'jwks', () => ({ ...base, jwks_uri: undefined, jwks: { keys: [{ ...rsa, alg: 'HS256' }] } }));
    add('jwks that is not a JWK Set', 'jwks', () => ({ ...base, jwks_uri: undefined, jwks: [rsa] }));
    add('subject_claim exp', 'subject_claim', () => ({ ...base, subject_claim: 'exp' }));
    add('an empty subject_claim', 'subject_claim', () => ({ ...base, subject_claim: '' }));
    add('a subject_claim with a quote', 'subject_claim', () => ({ ...base, subject_claim: 'a"b' }));
    add('max_token_age 0', 'max_token_age', () => ({ ...base, max_token_age: 0 }));
    add('max_token_age over a day', 'max_token_age', () => ({ ...base, max_token_age: 86_401 }));
    add('max_token_age as text', 'max_token_age', () => ({ ...base, max_token_age: '600' }));
    add('a fractional max_token_age', 'max_token_age', () => ({ ...base, max_token_age: 1.5 }));
    add('a description with a control character', 'description', () => ({ ...base, description: 'a\u0007b' }));
    add('disabled as text', 'disabled', () => ({ ...base, disabled: 'yes' }));
    add('an unknown field', 'id', () => ({ ...base, id: '01JD7Q3V8M5X2K9T4R6N0B1C2D' }));
    add('an array body', 'body', () => [base]);

    for (const [name, field, body] of cases) {
      it(`refuses ${name} (${field})`, async () => {
        const before = (await t.container.uow.stores.trustedIssuers.listAll()).length;
        const res = await post(body());
        expectFieldProblem(res, field);
        expectMatchesOpenApi(res, 'POST', '/admin/trusted-issuers');
        assert.equal((await t.container.uow.stores.trustedIssuers.listAll()).length, before);
      });
    }

    it('refuses a prototype-pollution field by name, and pollutes nothing', async () => {
      const res = await t.agent.post('/admin/trusted-issuers').set('authorization', full).set('content-type', 'application/json')
        .send(`${JSON.stringify(base).slice(0, -1)},"__proto__":{"polluted":true}}`);
      expectFieldProblem(res, '__proto__');
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });

    it('refuses a PATCH of the issuer, one that leaves no key source or two, and keys that no longer suit the algorithms', async () => {
      const { id } = await registered({ issuer: 'https://patch-bad.example', jwks: { keys: [ec] }, algorithms: ['ES256'], audiences: ['a'] });
      const stored = await get(`/admin/trusted-issuers/${id}`);
      for (const [body, field] of [
        [{ issuer: 'https://other.example' }, 'issuer'],
        [{ jwks: null }, 'jwks'],
        [{ jwks_uri: 'https://patch-bad.example/jwks' }, 'jwks_uri'],
        [{ algorithms: ['RS256'] }, 'jwks'],
        [{ audiences: [] }, 'audiences'],
        [{ subject_claim: 'iss' }, 'subject_claim'],
        [{ created_at: '2020-01-01T00:00:00Z' }, 'created_at'],
      ] as const) {
        const res = await patch(id, body);
        expectFieldProblem(res, field);
        expectMatchesOpenApi(res, 'PATCH', '/admin/trusted-issuers/{id}');
      }
      assert.deepEqual((await get(`/admin/trusted-issuers/${id}`)).body, stored.body, 'unchanged');
    });
  });

  describe('privilege: reads need admin:clients, writes every admin scope', () => {
    async function expectPrivilegeRefused(res: Response, method: string, template: string) {
      const problem = expectProblemDocument(res, 403);
      expectMatchesOpenApi(res, method, template);
      assert.match(String(problem.detail), /every admin scope \(admin:clients admin:keys admin:audit\)/);
      assert.equal(res.headers['www-authenticate'], `Bearer error="insufficient_scope", scope="${ALL_ADMIN_SCOPES}"`);
      const denied = await eventsOf(res, 'admin.denied');
      assert.equal(denied.length, 1);
      assert.equal(denied[0]!.reason, 'admin_privilege_required');
    }

    it('refuses an admin:clients-only token registering, changing or deleting an issuer, and changes nothing', async () => {
      const { id } = await registered({ issuer: 'https://guarded.example', jwks_uri: 'https://guarded.example/jwks', audiences: ['a'] });
      const count = (await t.container.uow.stores.trustedIssuers.listAll()).length;
      await expectPrivilegeRefused(await post({ issuer: 'https://evil.example', jwks_uri: 'https://evil.example/jwks', audiences: ['a'] }, narrow), 'POST', '/admin/trusted-issuers');
      // The refusal comes before validation: an invalid body from a narrow token is 403, not a 400 that would describe the rules.
      await expectPrivilegeRefused(await post({ issuer: 'nonsense' }, narrow), 'POST', '/admin/trusted-issuers');
      const before = await get(`/admin/trusted-issuers/${id}`);
      await expectPrivilegeRefused(await patch(id, { audiences: ['evil'] }, narrow), 'PATCH', '/admin/trusted-issuers/{id}');
      await expectPrivilegeRefused(await patch(id, { disabled: true }, narrow), 'PATCH', '/admin/trusted-issuers/{id}');
      await expectPrivilegeRefused(await del(id, narrow), 'DELETE', '/admin/trusted-issuers/{id}');
      assert.deepEqual((await get(`/admin/trusted-issuers/${id}`)).body, before.body);
      assert.equal((await t.container.uow.stores.trustedIssuers.listAll()).length, count);
      assert.equal(await t.container.trustedIssuerRegistry.find('https://evil.example'), undefined);
    });

    it('lets an admin:clients-only token read, and refuses reads without admin:clients (403) or without a token (401)', async () => {
      const list = await get('/admin/trusted-issuers', narrow);
      assert.equal(list.status, 200, list.text);
      expectMatchesOpenApi(list, 'GET', '/admin/trusted-issuers');
      const one = await get(`/admin/trusted-issuers/${list.body.items[0].id}`, narrow);
      assert.equal(one.status, 200);
      const denied = await get('/admin/trusted-issuers', keysOnly);
      expectProblemDocument(denied, 403);
      expectMatchesOpenApi(denied, 'GET', '/admin/trusted-issuers');
      const anonymous = await t.agent.get('/admin/trusted-issuers');
      expectProblemDocument(anonymous, 401);
      expectMatchesOpenApi(anonymous, 'GET', '/admin/trusted-issuers');
    });
  });
});
