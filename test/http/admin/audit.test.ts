import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { Response } from 'supertest';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { startTestService, type RegisteredClient, type TestService } from '../../helpers/start-app.ts';

/** The request a supertest response answers (its typings omit it). */
function requestOf(res: Response): { method: string; path: string } {
  return (res as unknown as { req: { method: string; path: string } }).req;
}

type AuditItem = {
  id: string;
  time: string;
  type: string;
  outcome: string;
  reason: string | null;
  client_id: string | null;
  auth_method: string | null;
  audience: string | null;
  scope: string | null;
  jti: string | null;
  kid: string | null;
  source_address: string | null;
  request_id: string | null;
  details: Record<string, unknown> | null;
};

function expectProblem400(res: Response, field: string): void {
  assert.equal(res.status, 400, `${requestOf(res).path}: ${res.text}`);
  expectMatchesOpenApi(res, 'GET', '/admin/audit');
  assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json(;|$)/);
  const problem = JSON.parse(res.text) as { type: string; title: string; status: number; detail: string; invalid_params: { name: string }[] };
  assert.equal(problem.status, 400);
  for (const key of ['type', 'title', 'detail'] as const) assert.equal(typeof problem[key], 'string');
  assert.ok(problem.invalid_params.some((p) => p.name === field), `${requestOf(res).path} names ${field}: ${res.text}`);
}

describe('GET /admin/audit', () => {
  let t: TestService;
  let admin: string;
  let orders: RegisteredClient;
  let other: RegisteredClient;
  /** Clock readings that separate three phases of activity, 100 s apart. */
  const phase: { startB: Date; endB: Date; startC: Date } = {} as never;

  before(async () => {
    t = await startTestService({ RATE_LIMIT_AUTH_FAILURES: '0' });
    admin = `Bearer ${await t.adminToken()}`;
    orders = await t.registerClient({ client_id: 'c-orders' });
    other = await t.registerClient({ client_id: 'c-other', token_endpoint_auth_method: 'client_secret_post', scope: 'stock:read', audience: ['https://stock.internal'] });
    // Phase A (now): a few issued and denied tokens.
    await t.tokenFor(orders.clientId, orders.secret);
    await token(orders.clientId, 'wrong');
    t.clock.advance(100);
    // Phase B.
    phase.startB = t.clock.now();
    await t.tokenFor(orders.clientId, orders.secret);
    await token(orders.clientId, 'wrong');
    await t.agent.post('/token').type('form').send({ grant_type: 'client_credentials', client_id: other.clientId, client_secret: other.secret });
    phase.endB = t.clock.now();
    t.clock.advance(100);
    // Phase C.
    phase.startC = t.clock.now();
    await t.tokenFor(orders.clientId, orders.secret);
  });
  after(() => t.stop());

  function token(clientId: string, secret: string, requestId?: string) {
    const req = t.agent.post('/token').auth(clientId, secret).type('form');
    if (requestId) req.set('x-request-id', requestId);
    return req.send({ grant_type: 'client_credentials' });
  }

  async function audit(query: Record<string, string> = {}): Promise<Response> {
    const res = await t.agent.get('/admin/audit').query(query).set('authorization', admin);
    assert.equal(res.status, 200, res.text);
    expectMatchesOpenApi(res, 'GET', '/admin/audit');
    return res;
  }

  /** Every page of a query, followed to the end. */
  async function allPages(query: Record<string, string>): Promise<{ items: AuditItem[]; pages: number }> {
    const items: AuditItem[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await audit({ ...query, ...(cursor && { cursor }) });
      items.push(...(res.body.items as AuditItem[]));
      cursor = res.body.next_cursor;
      pages += 1;
    } while (cursor !== null && pages < 200);
    assert.equal(cursor, null);
    return { items, pages };
  }

  function assertNewestFirst(items: AuditItem[]): void {
    for (let i = 1; i < items.length; i++) {
      assert.ok(items[i - 1]!.id > items[i]!.id, `ids descend at ${i}`);
      assert.ok(Date.parse(items[i - 1]!.time) >= Date.parse(items[i]!.time), `times do not increase at ${i}`);
    }
  }

  it('records token.issued with time, client, audience, scope, jti, kid, method, source address and request id', async () => {
    const before = t.clock.now().getTime();
    const res = await token(orders.clientId, orders.secret, 'req-audit-issued-1');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['x-request-id'], 'req-audit-issued-1', 'a plain inbound request id is carried through');
    const claims = decodeJwt(res.body.access_token);
    const header = decodeProtectedHeader(res.body.access_token);

    const { body } = await audit({ client_id: 'c-orders', type: 'token.issued', limit: '1' });
    const [event] = body.items as AuditItem[];
    assert.equal(event?.request_id, 'req-audit-issued-1');
    assert.equal(event.type, 'token.issued');
    assert.equal(event.outcome, 'success');
    assert.equal(event.reason, null);
    assert.equal(event.client_id, 'c-orders');
    assert.equal(event.auth_method, 'client_secret_basic');
    assert.equal(event.audience, 'https://orders.internal');
    assert.equal(event.scope, 'orders:read orders:write');
    assert.equal(event.jti, claims.jti);
    assert.equal(event.kid, header.kid);
    assert.equal(event.source_address, '127.0.0.1');
    assert.match(event.time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const time = Date.parse(event.time);
    assert.ok(time >= before && time <= t.clock.now().getTime(), 'time is the service clock at the request, in UTC');
    assert.ok(Math.abs(time / 1000 - claims.iat!) <= 1, 'time agrees with the token iat');
    assert.ok(!JSON.stringify(body).includes(res.body.access_token), 'never the token');
  });

  it('records the generated request id of a request that sent none, equal to its X-Request-Id header', async () => {
    const res = await token(orders.clientId, 'wrong-secret');
    assert.equal(res.status, 401);
    const requestId = res.headers['x-request-id'];
    assert.match(requestId ?? '', /^[0-9a-f-]{36}$/);
    const { body } = await audit({ client_id: 'c-orders', type: 'token.denied', limit: '1' });
    const [event] = body.items as AuditItem[];
    assert.equal(event?.request_id, requestId);
    assert.equal(event.outcome, 'failure');
    assert.equal(event.reason, 'invalid_secret');
    assert.equal(event.auth_method, 'client_secret_basic');
    assert.equal(event.source_address, '127.0.0.1');
    assert.equal(event.jti, null);
    assert.ok(!JSON.stringify(event).includes('wrong-secret'));

    const unsafe = await t.agent.post('/token').set('x-request-id', 'bad id\twith spaces').auth(orders.clientId, 'wrong').type('form')
      .send({ grant_type: 'client_credentials' });
    assert.match(unsafe.headers['x-request-id'] ?? '', /^[0-9a-f-]{36}$/, 'an unsafe inbound id is replaced');
    const [replaced] = (await audit({ client_id: 'c-orders', type: 'token.denied', limit: '1' })).body.items as AuditItem[];
    assert.equal(replaced?.request_id, unsafe.headers['x-request-id']);
  });

  it('records admin changes and denials with the request id of the admin call', async () => {
    const created = await t.agent.post('/admin/clients').set('authorization', admin).set('x-request-id', 'req-audit-admin-1')
      .send({ client_id: 'c-audited', client_name: 'x', scope: 'a:b', audience: ['https://a.internal', 'https://b.internal'] });
    assert.equal(created.status, 201, created.text);
    const denied = await t.agent.get('/admin/clients').set('x-request-id', 'req-audit-admin-2');
    assert.equal(denied.status, 401);

    const [event] = (await audit({ type: 'client.created', client_id: 'c-audited' })).body.items as AuditItem[];
    assert.equal(event?.request_id, 'req-audit-admin-1');
    assert.equal(event.outcome, 'success');
    assert.equal(event.audience, 'https://a.internal https://b.internal');
    assert.equal(event.scope, 'a:b');
    assert.equal(event.auth_method, 'client_secret_basic');
    assert.equal(event.details?.actor, t.config.bootstrapAdmin.clientId);
    assert.ok(!JSON.stringify(event).includes(created.body.client_secret));

    const [deniedEvent] = (await audit({ type: 'admin.denied', limit: '1' })).body.items as AuditItem[];
    assert.equal(deniedEvent?.request_id, 'req-audit-admin-2');
    assert.equal(deniedEvent.outcome, 'failure');
    assert.equal(deniedEvent.reason, 'no_token');
    assert.deepEqual(deniedEvent.details, { method: 'GET', path: '/admin/clients' });

    const keys = (await audit({ type: 'key.created' })).body.items as AuditItem[];
    assert.ok(keys.length >= 1, 'the start-up signing key is audited');
    assert.ok(keys.every((k) => typeof k.kid === 'string' && k.client_id === null));
  });

  it('filters by client_id, type and outcome, alone and together', async () => {
    const byClient = (await allPages({ client_id: 'c-other' })).items;
    assert.ok(byClient.length >= 2);
    assert.ok(byClient.every((e) => e.client_id === 'c-other'));
    assert.ok(byClient.some((e) => e.type === 'client.created') && byClient.some((e) => e.type === 'token.issued'));

    const issued = (await allPages({ type: 'token.issued' })).items;
    assert.ok(issued.every((e) => e.type === 'token.issued' && e.outcome === 'success'));
    const failures = (await allPages({ outcome: 'failure' })).items;
    assert.ok(failures.length >= 3);
    assert.ok(failures.every((e) => e.outcome === 'failure'));
    assert.ok(failures.some((e) => e.type === 'token.denied') && failures.some((e) => e.type === 'admin.denied'));

    const combined = (await allPages({ client_id: 'c-orders', type: 'token.denied', outcome: 'failure' })).items;
    const all = (await allPages({})).items;
    assert.deepEqual(combined, all.filter((e) => e.client_id === 'c-orders' && e.type === 'token.denied' && e.outcome === 'failure'));
    assert.ok(combined.length >= 3);
    assert.deepEqual((await audit({ client_id: 'c-orders', outcome: 'success', type: 'token.denied' })).body.items, []);
    assert.deepEqual((await audit({ client_id: 'c-nobody' })).body, { items: [], next_cursor: null });
  });

  it('filters by since (inclusive) and until on the event time', async () => {
    const inB = (await allPages({ since: phase.startB.toISOString(), until: phase.endB.toISOString() })).items;
    const all = (await allPages({})).items;
    const expected = all.filter((e) => Date.parse(e.time) >= phase.startB.getTime() && Date.parse(e.time) <= phase.endB.getTime());
    assert.deepEqual(inB, expected);
    assert.equal(inB.filter((e) => e.type === 'token.issued').length, 2, 'two tokens were issued in phase B');
    assert.equal(inB.filter((e) => e.type === 'token.denied').length, 1);

    const sinceC = (await allPages({ since: phase.startC.toISOString() })).items;
    assert.ok(sinceC.length >= 1 && sinceC.every((e) => Date.parse(e.time) >= phase.startC.getTime()));
    const untilB = (await allPages({ until: phase.endB.toISOString() })).items;
    assert.ok(untilB.every((e) => Date.parse(e.time) <= phase.endB.getTime()));
    assert.equal(untilB.length + sinceC.length, all.length, 'nothing happened between phase B and phase C');

    const exact = inB.at(-1)!;
    const fromExact = (await allPages({ since: exact.time, until: phase.endB.toISOString() })).items;
    assert.deepEqual(fromExact.at(-1), exact, 'since is inclusive');
    const offset = new Date(Date.parse(exact.time)).toISOString().replace('Z', '+00:00');
    assert.deepEqual((await allPages({ since: offset, until: phase.endB.toISOString() })).items, fromExact, 'an offset form is the same instant');
    assert.ok((await audit({ since: '2000-01-01' })).body.items.length > 0, 'a date alone is accepted');
  });

  it('pages newest first with limit and cursor; pages do not overlap and add up to the whole', async () => {
    for (let i = 0; i < 4; i++) await t.tokenFor(orders.clientId, orders.secret);
    const whole = (await audit({ client_id: 'c-orders', limit: '100' })).body as { items: AuditItem[]; next_cursor: null };
    assert.equal(whole.next_cursor, null);
    assertNewestFirst(whole.items);

    const paged = await allPages({ client_id: 'c-orders', limit: '3' });
    assert.deepEqual(paged.items, whole.items);
    assert.equal(paged.pages, Math.ceil(whole.items.length / 3), 'the last page says next_cursor null, no empty page follows');
    assert.equal(new Set(paged.items.map((e) => e.id)).size, paged.items.length, 'no event on two pages');

    const first = await audit({ limit: '2' });
    assert.equal(first.body.items.length, 2);
    assert.equal(typeof first.body.next_cursor, 'string');
    const second = await audit({ limit: '2', cursor: first.body.next_cursor });
    assert.ok(second.body.items.every((e: AuditItem) => e.id < first.body.items[1].id), 'the next page continues below the last one');
    const defaultPage = await audit();
    assert.equal(defaultPage.body.items.length, 20, 'default page size 20');
    assertNewestFirst(defaultPage.body.items);
  });

  it('answers 400 naming the parameter for bad filter values', async () => {
    const bad: Array<[Record<string, string>, string]> = [
      [{ type: 'token.stolen' }, 'type'],
      [{ type: '' }, 'type'],
      [{ outcome: 'maybe' }, 'outcome'],
      [{ outcome: 'SUCCESS' }, 'outcome'],
      [{ since: 'yesterday' }, 'since'],
      [{ since: '1700000000' }, 'since'],
      [{ since: '2026-13-01T00:00:00Z' }, 'since'],
      [{ until: 'not-a-date' }, 'until'],
      [{ until: '2026-02-30T00:00:00Z' }, 'until'],
      [{ since: '2026-01-02T00:00:00Z', until: '2026-01-01T00:00:00Z' }, 'since'],
      [{ client_id: '' }, 'client_id'],
      [{ client_id: 'x'.repeat(256) }, 'client_id'],
      [{ limit: '0' }, 'limit'],
      [{ limit: '-1' }, 'limit'],
      [{ limit: 'abc' }, 'limit'],
      [{ limit: '1e3' }, 'limit'],
      [{ limit: '1000000' }, 'limit'],
      [{ cursor: 'forged' }, 'cursor'],
      [{ cursor: 'x'.repeat(10 * 1024) }, 'cursor'],
      [{ cursor: '01ARZ3NDEKTSV4RRFFQ69G5FA' }, 'cursor'],
    ];
    for (const [query, field] of bad) {
      expectProblem400(await t.agent.get('/admin/audit').query(query).set('authorization', admin), field);
    }
    expectProblem400(await t.agent.get('/admin/audit?type=token.issued&type=token.denied').set('authorization', admin), 'type');
    expectProblem400(await t.agent.get('/admin/audit?client_id=%00').set('authorization', admin), 'client_id');
  });

  it('answers POST, PUT and DELETE on /admin/audit with 405 and Allow: GET', async () => {
    for (const method of ['post', 'put', 'delete'] as const) {
      const res = await t.agent[method]('/admin/audit').set('authorization', admin);
      assert.equal(res.status, 405, res.text);
      assert.equal(res.headers.allow, 'GET');
      expectMatchesOpenApi(res, method.toUpperCase(), '/admin/audit');
    }
  });
});
