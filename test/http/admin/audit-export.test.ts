import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { startTestService, type RegisteredClient, type TestService } from '../../helpers/start-app.ts';

type SseEvent = { id: string; event: string; data: Record<string, unknown> };

/** A raw EventSource-like reader: collects events as they arrive, until closed. */
function openStream(url: string, headers: Record<string, string>) {
  const events: SseEvent[] = [];
  let buffer = '';
  let wake: (() => void) | undefined;
  const request = http.get(url, { headers: { accept: 'text/event-stream', ...headers } });
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    request.once('response', resolve);
    request.once('error', reject);
  });
  void response.then((res) => {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = Object.fromEntries(block.split('\n').filter((l) => !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
        if (fields.event) events.push({ id: fields.id!, event: fields.event, data: JSON.parse(fields.data!) });
      }
      wake?.();
    });
  }, () => undefined);
  return {
    response,
    events,
    async waitFor(count: number): Promise<SseEvent[]> {
      for (let i = 0; i < 200 && events.length < count; i++) await new Promise<void>((r) => { wake = r; setTimeout(r, 50); });
      return events;
    },
    close: () => request.destroy(),
  };
}

describe('audit export and query: log lines, SSE stream, filters', () => {
  let t: TestService;
  let admin: string;
  let orders: RegisteredClient;
  let stock: RegisteredClient;

  before(async () => {
    t = await startTestService({ RATE_LIMIT_AUTH_FAILURES: '0' });
    admin = `Bearer ${await t.adminToken()}`;
    orders = await t.registerClient({ client_id: 'c-orders', audience: ['https://a_b.internal'] });
    stock = await t.registerClient({ client_id: 'c-stock', token_endpoint_auth_method: 'client_secret_post', scope: 'stock:read', audience: ['https://axb.internal'] });
  });
  after(async () => t?.stop());

  it('writes each stored audit event as one structured log line, with no token or secret', async () => {
    const token = await t.tokenFor(orders.clientId, orders.secret);
    const jti = decodeJwt(token).jti;
    const lines = t.logLines.map((l) => JSON.parse(l) as { audit?: boolean; event?: Record<string, unknown> }).filter((l) => l.audit === true);
    const issued = lines.find((l) => l.event?.jti === jti);
    assert.ok(issued, 'the issuance has its audit line');
    assert.equal(issued.event!.type, 'token.issued');
    assert.equal(issued.event!.client_id, 'c-orders');
    const [stored] = (await t.agent.get('/admin/audit').query({ jti }).set('authorization', admin)).body.items;
    assert.deepEqual(issued.event, stored, 'the same representation as the admin API');
    for (const line of t.logLines) {
      assert.ok(!line.includes(token) && !line.includes(orders.secret) && !line.includes(stock.secret), 'no token or secret in any line');
    }
  });

  it('filters by audience (exactly, LIKE wildcards inert), auth_method, reason, jti and request_id', async () => {
    await t.agent.post('/token').type('form').send({ grant_type: 'client_credentials', client_id: stock.clientId, client_secret: stock.secret }).set('x-request-id', 'req-stock-1');
    await t.agent.post('/token').auth(orders.clientId, 'wrong').type('form').send({ grant_type: 'client_credentials' });
    const list = async (query: Record<string, string>) => {
      const res = await t.agent.get('/admin/audit').query(query).set('authorization', admin);
      assert.equal(res.status, 200, res.text);
      expectMatchesOpenApi(res, 'GET', '/admin/audit');
      return res.body.items as Array<Record<string, unknown>>;
    };
    const ab = await list({ audience: 'https://a_b.internal' });
    assert.ok(ab.length >= 1);
    assert.ok(ab.every((e) => String(e.audience).split(' ').includes('https://a_b.internal')), 'https://axb.internal is not matched by _');
    assert.ok((await list({ audience: 'https://axb.internal' })).every((e) => e.client_id === 'c-stock'));
    assert.equal((await list({ audience: 'https://orders' })).length, 0, 'a prefix is not an audience');
    const post = await list({ auth_method: 'client_secret_post' });
    assert.ok(post.length >= 1 && post.every((e) => e.auth_method === 'client_secret_post'));
    const wrong = await list({ reason: 'invalid_secret', client_id: 'c-orders' });
    assert.equal(wrong.length, 1);
    assert.equal(wrong[0]!.type, 'token.denied');
    const byRequest = await list({ request_id: 'req-stock-1' });
    assert.equal(byRequest.length, 1);
    assert.equal(byRequest[0]!.client_id, 'c-stock');
    const byJti = await list({ jti: String(byRequest[0]!.jti) });
    assert.deepEqual(byJti, byRequest);
  });

  it('pages newest first with stable cursors under the same filter', async () => {
    for (let i = 0; i < 5; i++) await t.tokenFor(orders.clientId, orders.secret);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: Record<string, string> = { client_id: 'c-orders', type: 'token.issued', limit: '2' };
      if (cursor) query.cursor = cursor;
      const res: { status: number; body: { items: Array<{ id: string }>; next_cursor: string | null } } = await t.agent.get('/admin/audit').query(query).set('authorization', admin);
      assert.equal(res.status, 200);
      seen.push(...res.body.items.map((e: { id: string }) => e.id));
      cursor = res.body.next_cursor;
    } while (cursor);
    assert.deepEqual(seen, [...seen].sort().reverse());
    assert.equal(new Set(seen).size, seen.length);
    assert.equal(seen.length, (await t.auditEvents({ type: 'token.issued', clientId: 'c-orders' })).length);
  });

  it('refuses bad filters with a problem naming the field', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ auth_method: 'password' }, 'auth_method'],
      [{ reason: 'DROP TABLE' }, 'reason'],
      [{ request_id: 'a b' }, 'request_id'],
      [{ jti: 'x'.repeat(256) }, 'jti'],
      [{ audience: 'a\u0001b' }, 'audience'],
      [{ limit: '1000' }, 'limit'],
      [{ limit: '0' }, 'limit'],
      [{ cursor: 'not-a-cursor' }, 'cursor'],
      [{ cursor: "01KB0000000000000000000000' OR 1=1" }, 'cursor'],
      [{ since: '2026-02-30' }, 'since'],
      [{ type: 'token.stolen' }, 'type'],
    ];
    for (const [query, field] of cases) {
      const res = await t.agent.get('/admin/audit').query(query).set('authorization', admin);
      assert.equal(res.status, 400, `${JSON.stringify(query)}: ${res.text}`);
      assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/);
      assert.ok(res.body.invalid_params.some((p: { name: string }) => p.name === field), `${JSON.stringify(query)} names ${field}: ${res.text}`);
    }
  });

  it('streams events in commit order as SSE, resumes after Last-Event-ID or ?after, and applies the filters', async () => {
    const live = openStream(`${t.url}/admin/audit/stream?client_id=c-stock`, { authorization: admin });
    const res = await live.response;
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    // Starts at the end: nothing from before the stream was opened.
    await t.tokenFor(orders.clientId, orders.secret);
    for (let i = 0; i < 3; i++) await t.agent.post('/token').type('form').send({ grant_type: 'client_credentials', client_id: stock.clientId, client_secret: stock.secret });
    const events = await live.waitFor(3);
    live.close();
    assert.equal(events.length, 3);
    assert.ok(events.every((e) => e.event === 'audit' && e.data.client_id === 'c-stock' && e.id === e.data.id));
    const stored = (await t.agent.get('/admin/audit').query({ client_id: 'c-stock', limit: '3' }).set('authorization', admin)).body.items.reverse();
    assert.deepEqual(events.map((e) => e.data), stored, 'the same JSON as the list, oldest first');

    const resumed = openStream(`${t.url}/admin/audit/stream?client_id=c-stock`, { authorization: admin, 'last-event-id': events[0]!.id });
    assert.deepEqual((await resumed.waitFor(2)).map((e) => e.id), events.slice(1).map((e) => e.id));
    resumed.close();
    const byQuery = openStream(`${t.url}/admin/audit/stream?client_id=c-stock&after=${events[1]!.id}`, { authorization: admin });
    assert.deepEqual((await byQuery.waitFor(1)).map((e) => e.id), [events[2]!.id]);
    byQuery.close();
  });

  it('refuses a bad or unknown resume id, a bad filter, and a caller without admin:audit', async () => {
    const bad = await t.agent.get('/admin/audit/stream').set('authorization', admin).set('last-event-id', 'nope');
    assert.equal(bad.status, 400);
    assert.ok(bad.body.invalid_params.some((p: { name: string }) => p.name === 'Last-Event-ID'));
    const unknown = await t.agent.get('/admin/audit/stream').query({ after: '01KB0000000000000000000000' }).set('authorization', admin);
    assert.equal(unknown.status, 400);
    assert.ok(unknown.body.invalid_params.some((p: { name: string }) => p.name === 'after'));
    const filter = await t.agent.get('/admin/audit/stream').query({ reason: 'X' }).set('authorization', admin);
    assert.equal(filter.status, 400);
    assert.equal((await t.agent.get('/admin/audit/stream')).status, 401);
    const verify = await t.agent.get('/admin/audit/verify').set('authorization', admin);
    assert.equal(verify.status, 405);
  });
});
