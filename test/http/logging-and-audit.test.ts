import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Response } from 'supertest';
import type { StoredAuditEvent } from '../../src/audit/audit-event.ts';
import { AUDIT_FAILURE_HOLD_MS } from '../../src/audit/audit-write-state.ts';
import { expectMatchesOpenApi } from '../helpers/openapi.ts';
import { BOOTSTRAP_SECRET, startTestService, type RegisteredClient, type TestService } from '../helpers/start-app.ts';

/** The request a supertest response answers (its typings omit it). */
function requestOf(res: Response): { method: string; path: string } {
  return (res as unknown as { req: { method: string; path: string } }).req;
}

const JWT_LIKE = /eyJ[\w-]+\.[\w-]+\.[\w-]*/;

/** Runs one SQL statement over a connection of our own, beside the service's (not through it). */
async function directSql(t: TestService, sql: string): Promise<Record<string, unknown>[]> {
  if (t.database.provider === 'postgresql') {
    const client = new pg.Client({ connectionString: t.database.url });
    await client.connect();
    try {
      return (await client.query(sql)).rows as Record<string, unknown>[];
    } finally {
      await client.end();
    }
  }
  const db = new Database(t.database.url.replace(/^file:/, ''), { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const statement = db.prepare(sql);
    if (statement.reader) return statement.all() as Record<string, unknown>[];
    statement.run();
    return [];
  } finally {
    db.close();
  }
}

/** Every audit event, newest first, read from the store (all pages). */
async function allAuditEvents(t: TestService): Promise<StoredAuditEvent[]> {
  const events: StoredAuditEvent[] = [];
  let cursor: string | null | undefined;
  do {
    const page = await t.container.uow.stores.audit.list({}, { limit: 100, ...(cursor && { cursor }) });
    events.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return events;
}

/** RFC 6749 §2.3.1: form-urlencode each part, then base64. */
function basicValue(clientId: string, secret: string): string {
  const enc = (v: string) => new URLSearchParams({ v }).toString().slice(2);
  return Buffer.from(`${enc(clientId)}:${enc(secret)}`, 'utf8').toString('base64');
}

/** pino-http writes its line when the response finishes, which can be a moment after the client has it. */
async function requestLines(t: TestService, requestId: string): Promise<Record<string, unknown>[]> {
  const find = () => t.logLines.map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => (entry.req as { id?: string } | undefined)?.id === requestId);
  for (let i = 0; i < 250 && find().length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  return find();
}

describe('LG-01 no secret, token or key material in any log line or audit row', () => {
  let t: TestService;
  const secrets: string[] = [];
  const basicValues: string[] = [];
  const tokens: string[] = [];
  const statuses: number[] = [];

  before(async () => {
    t = await startTestService({ LOG_LEVEL: 'debug', RATE_LIMIT_AUTH_FAILURES: '2' });
    const admin = await t.adminToken();
    tokens.push(admin);
    secrets.push(BOOTSTRAP_SECRET);
    basicValues.push(basicValue(t.config.bootstrapAdmin.clientId, BOOTSTRAP_SECRET), `${t.config.bootstrapAdmin.clientId}:${BOOTSTRAP_SECRET}`);

    const record = (res: Response) => {
      statuses.push(res.status);
      if (typeof res.body?.access_token === 'string') tokens.push(res.body.access_token);
      if (typeof res.body?.client_secret === 'string') secrets.push(res.body.client_secret);
      return res;
    };
    const withBasic = (clientId: string, secret: string, body: Record<string, string> = {}, query = '') => {
      basicValues.push(basicValue(clientId, secret), `${clientId}:${secret}`);
      return t.agent.post(`/token${query}`).set('authorization', `Basic ${basicValue(clientId, secret)}`).type('form')
        .send({ grant_type: 'client_credentials', ...body }).then(record);
    };
    const adminCall = (method: 'get' | 'post' | 'patch', url: string, body?: object, bearer = admin) =>
      t.agent[method](url).set('authorization', `Bearer ${bearer}`).send(body).then(record);

    // Registration (secrets shown once), token issuance by every secret method and body format.
    const basic = await adminCall('post', '/admin/clients', { client_id: 'c-log-basic', client_name: 'x', scope: 'orders:read', audience: ['https://orders.internal'] });
    const post = await adminCall('post', '/admin/clients', { client_id: 'c-log-post', client_name: 'x', scope: 'orders:read', audience: ['https://orders.internal'], token_endpoint_auth_method: 'client_secret_post' });
    const odd = await t.registerClient({ client_id: 'c-log:odd@id' });
    secrets.push(odd.secret);
    const basicSecret = basic.body.client_secret as string;
    const postSecret = post.body.client_secret as string;
    await withBasic('c-log-basic', basicSecret);
    await withBasic('c-log:odd@id', odd.secret);
    record(await t.agent.post('/token').type('form').send({ grant_type: 'client_credentials', client_id: 'c-log-post', client_secret: postSecret }));
    record(await t.agent.post('/token').type('json').send({ grant_type: 'client_credentials', client_id: 'c-log-post', client_secret: postSecret }));

    // Denials: wrong secrets, a lockout, unknown clients, refused scopes.
    const wrong = 'wrong-secret-LG01-0123456789abcdef';
    secrets.push(wrong);
    for (let i = 0; i < 3; i++) await withBasic('c-log-basic', wrong);
    await withBasic('c-log-nosuch', basicSecret);
    await withBasic('c-log:odd@id', odd.secret, { scope: 'admin:clients' });

    // Credentials where they do not belong: the URL, and an assertion beside a secret.
    await withBasic('c-log:odd@id', odd.secret, {}, `?client_secret=${encodeURIComponent(postSecret)}&access_token=${admin}`);
    record(await t.agent.post(`/token?client_id=c-log-post&client_secret=${encodeURIComponent(postSecret)}`).type('form')
      .send({ grant_type: 'client_credentials' }));
    const assertion = 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJjLWxvZy1wb3N0In0.c2lnbmF0dXJl';
    tokens.push(assertion);
    record(await t.agent.post('/token').type('form').send({
      grant_type: 'client_credentials', client_id: 'c-log-post', client_secret: postSecret,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion,
    }));
    record(await t.agent.get(`/admin/clients?access_token=${admin}&client_secret=${encodeURIComponent(postSecret)}`));
    record(await t.agent.get(`/no-such-path?client_secret=${encodeURIComponent(postSecret)}`).set('authorization', `Bearer ${admin}`));

    // Rotation, with and without grace, and the new secret in use.
    const rotated = await adminCall('post', '/admin/clients/c-log-basic/secret', { grace_seconds: 60 });
    await withBasic('c-log-basic', rotated.body.client_secret as string);
    await withBasic('c-log-basic', basicSecret);
    const rotatedPost = await adminCall('post', '/admin/clients/c-log-post/secret');
    record(await t.agent.post('/token').type('form').send({ grant_type: 'client_credentials', client_id: 'c-log-post', client_secret: rotatedPost.body.client_secret }));

    // Admin denials: a forged token, and a token of ours for the wrong audience.
    const [header, payload] = admin.split('.');
    await adminCall('get', '/admin/clients', undefined, `${header}.${payload}.AAAA`);
    await adminCall('get', '/admin/keys', undefined, tokens.find((tok) => tok !== admin && tok !== assertion)!);
    await adminCall('get', '/admin/keys');
    await adminCall('get', '/admin/audit?limit=100');
    await adminCall('patch', '/admin/clients/c-log-post', { client_name: 'renamed' });
  });
  after(() => t.stop());

  /** The log lines and audit rows, as they would be read by an operator or a log pipeline. */
  async function everythingRecorded(): Promise<Array<{ where: string; text: string }>> {
    const rows = await directSql(t, 'SELECT * FROM "AuditEvent"');
    return [
      ...t.logLines.map((text, i) => ({ where: `log line ${i}`, text })),
      ...rows.map((row, i) => ({ where: `audit row ${i}`, text: JSON.stringify(row) })),
    ];
  }

  function hits(records: Array<{ where: string; text: string }>, needle: string | RegExp): string[] {
    return records.filter(({ text }) => (typeof needle === 'string' ? text.includes(needle) : needle.test(text)))
      .map(({ where, text }) => `${where}: ${text.slice(0, 300)}`);
  }

  it('LG-01 ran a representative mix at LOG_LEVEL=debug, and every request was logged', async () => {
    assert.equal(t.config.logLevel, 'debug');
    for (const status of [200, 201, 400, 401, 404, 429]) assert.ok(statuses.includes(status), `the mix includes a ${status}: ${statuses.join(' ')}`);
    assert.ok(secrets.length >= 7 && tokens.length >= 6 && basicValues.length >= 10, `${secrets.length} ${tokens.length} ${basicValues.length}`);
    const requestLinesLogged = t.logLines.filter((line) => line.includes('"req":{')).length;
    assert.ok(requestLinesLogged >= statuses.length, `${requestLinesLogged} request lines for ${statuses.length} requests`);
    assert.ok((await directSql(t, 'SELECT * FROM "AuditEvent"')).length >= statuses.length - 6);
  });

  it('LG-01 finds no client secret, Basic value (encoded or decoded), access token or assertion', async () => {
    const records = await everythingRecorded();
    for (const secret of new Set(secrets)) {
      assert.deepEqual(hits(records, secret), [], `secret ${secret.slice(0, 6)}…`);
      assert.deepEqual(hits(records, encodeURIComponent(secret)), []);
    }
    for (const value of new Set(basicValues)) assert.deepEqual(hits(records, value), [], `Basic value ${value.slice(0, 8)}…`);
    for (const token of new Set(tokens)) {
      assert.deepEqual(hits(records, token), []);
      assert.deepEqual(hits(records, token.split('.')[2]!), [], 'not even the signature');
    }
    assert.deepEqual(hits(records, JWT_LIKE), []);
    assert.deepEqual(hits(records, /client_secret=|access_token=/), [], 'query strings with credentials are not logged');
  });

  it('LG-01 finds no private key material and not the key-encryption key', async () => {
    const records = await everythingRecorded();
    const kekText = readFileSync(path.join(t.config.keysDir, 'key-encryption-key'), 'utf8').trim();
    const kek = Buffer.from(kekText, 'base64url');
    assert.equal(kek.length, 32);
    for (const form of [kekText, kek.toString('hex'), kek.toString('base64'), kek.toString('base64url')]) {
      assert.deepEqual(hits(records, form), [], 'the key-encryption key');
    }
    assert.deepEqual(hits(records, '"d":'), []);
    assert.deepEqual(hits(records, '\\"d\\":'), []);
    assert.deepEqual(hits(records, 'PRIVATE KEY'), []);
    assert.deepEqual(hits(records, /"(p|q|dp|dq|qi)":"/), []);
    const sealed = await directSql(t, 'SELECT "encryptedPrivateJwk" FROM "SigningKey"');
    for (const row of sealed) assert.deepEqual(hits(records, String(row.encryptedPrivateJwk).split('.')[2]!), [], 'nor the sealed key');
  });
});

describe('LG-02 audit counts equal the HTTP results', () => {
  let t: TestService;
  let admin: string;
  let basic: RegisteredClient;
  let post: RegisteredClient;

  before(async () => {
    t = await startTestService({ RATE_LIMIT_AUTH_FAILURES: '3' });
    admin = `Bearer ${await t.adminToken()}`;
    basic = await t.registerClient({ client_id: 'c-count-basic' });
    post = await t.registerClient({ client_id: 'c-count-post', token_endpoint_auth_method: 'client_secret_post' });
  });
  after(() => t.stop());

  it('LG-02 writes one token.issued per 200 and one token.denied per 4xx or 429, also for concurrent requests', async () => {
    const before = await allAuditEvents(t);
    let n = 0;
    const id = () => `lg02-${n++}`;
    const form = (body: Record<string, string>) => new URLSearchParams(body).toString();
    const sendBasic = (clientId: string, secret: string, body: Record<string, string> = { grant_type: 'client_credentials' }) =>
      t.agent.post('/token').set('x-request-id', id()).auth(clientId, secret).type('form').send(form(body));
    const sendPost = (body: Record<string, string>) => t.agent.post('/token').set('x-request-id', id()).type('form').send(form(body));

    const concurrent = await Promise.all([
      ...Array.from({ length: 8 }, () => sendBasic(basic.clientId, basic.secret)),
      ...Array.from({ length: 4 }, () => sendPost({ grant_type: 'client_credentials', client_id: post.clientId, client_secret: post.secret })),
      sendBasic(basic.clientId, basic.secret, { grant_type: 'client_credentials', scope: 'orders:delete' }),
      sendBasic(basic.clientId, basic.secret, { grant_type: 'client_credentials', audience: 'https://stock.internal' }),
      sendBasic(basic.clientId, basic.secret, { grant_type: 'password' }),
      sendBasic(basic.clientId, basic.secret, {}),
      sendBasic('c-count-nosuch', basic.secret),
      sendPost({ grant_type: 'client_credentials' }),
      sendPost({ grant_type: 'client_credentials', client_id: post.clientId, client_secret: `${post.secret}x` }),
      t.agent.post('/token').set('x-request-id', id()).type('form').send('grant_type=client_credentials&grant_type=client_credentials'),
      t.agent.post('/token').set('x-request-id', id()).type('text/plain').send('grant_type=client_credentials'),
      t.agent.get('/token').set('x-request-id', id()),
      t.agent.post('/token').set('x-request-id', id()).type('form').send(`grant_type=client_credentials&pad=${'x'.repeat(70 * 1024)}`),
    ]);
    // A lockout, in order: three failures, then 429 for the next wrong secret; the right one still succeeds.
    const sequential: Response[] = [];
    for (let i = 0; i < 3; i++) sequential.push(await sendBasic(basic.clientId, 'wrong'));
    sequential.push(await sendBasic(basic.clientId, 'wrong'));
    sequential.push(await sendBasic(basic.clientId, basic.secret));
    const responses = [...concurrent, ...sequential];

    const statuses = responses.map((r) => r.status);
    for (const status of [200, 400, 401, 405, 413, 429]) assert.ok(statuses.includes(status), `the batch includes a ${status}: ${statuses.join(' ')}`);
    assert.deepEqual(sequential.map((r) => r.status), [401, 401, 401, 429, 200]);
    for (const res of responses) expectMatchesOpenApi(res, requestOf(res).method, '/token');

    const events = (await allAuditEvents(t)).filter((e) => !before.some((b) => b.id === e.id));
    for (const res of responses) {
      const requestId = res.headers['x-request-id'];
      const mine = events.filter((e) => e.requestId === requestId);
      const label = `${requestId} (${res.status} ${res.body?.error ?? ''})`;
      if (res.status === 200) {
        assert.deepEqual(mine.map((e) => e.type), ['token.issued'], label);
        assert.equal(mine[0]!.jti, JSON.parse(Buffer.from(res.body.access_token.split('.')[1], 'base64url').toString()).jti);
      } else {
        assert.deepEqual(mine.map((e) => e.type), ['token.denied'], label);
        assert.equal(typeof mine[0]!.reason, 'string', label);
        assert.equal(mine[0]!.outcome, 'failure');
      }
      assert.equal(mine[0]!.sourceAddress, '127.0.0.1');
    }
    const ok = statuses.filter((s) => s === 200).length;
    assert.equal(events.filter((e) => e.type === 'token.issued').length, ok);
    assert.equal(events.filter((e) => e.type === 'token.denied').length, responses.length - ok);
    assert.equal(events.length, responses.length, 'nothing else was written');
    const reasons = new Set(events.map((e) => e.reason));
    for (const reason of ['invalid_secret', 'unknown_client', 'auth_failures_locked', 'unsupported_grant_type', 'duplicate_parameter']) {
      assert.ok(reasons.has(reason), `reason ${reason} among ${[...reasons].join(' ')}`);
    }
  });

  it('LG-02 writes client.* for admin changes and admin.denied for 401/403, nothing for reads or refused bodies', async () => {
    const keysOnly = await t.registerClient({ client_id: 'c-count-keys', scope: 'admin:keys', audience: [`${t.config.issuer}/admin`] });
    const keysToken = `Bearer ${await t.tokenFor(keysOnly.clientId, keysOnly.secret)}`;
    const before = await allAuditEvents(t);
    let n = 0;
    const call = (method: 'get' | 'post' | 'patch' | 'delete', url: string, authorization: string | undefined, body?: object) => {
      const req = t.agent[method](url).set('x-request-id', `lg02-admin-${n++}`);
      if (authorization) req.set('authorization', authorization);
      return body === undefined ? req : req.send(body);
    };
    const expectations: Array<[Promise<Response>, number, string[]]> = [
      [call('post', '/admin/clients', admin, { client_id: 'c-count-new', client_name: 'x' }), 201, ['client.created']],
      [call('patch', '/admin/clients/c-count-new', admin, { client_name: 'y' }), 200, ['client.updated']],
      [call('post', '/admin/clients/c-count-new/secret', admin, {}), 200, ['client.secret_rotated']],
      [call('delete', '/admin/clients/c-count-new', admin), 204, ['client.deleted']],
      [call('delete', '/admin/clients/c-count-new', admin), 404, []],
      [call('post', '/admin/clients', admin, { client_name: 'x', access_token_ttl: 999999 }), 400, []],
      [call('post', '/admin/clients', admin, { client_id: 'c-count-basic', client_name: 'x' }), 409, []],
      [call('get', '/admin/clients', admin), 200, []],
      [call('get', '/admin/audit', admin), 200, []],
      [call('get', '/admin/clients', undefined), 401, ['admin.denied']],
      [call('post', '/admin/clients', 'Bearer x.y.z', { client_name: 'x' }), 401, ['admin.denied']],
      [call('post', '/admin/clients', keysToken, { client_name: 'x' }), 403, ['admin.denied']],
      [call('get', '/admin/audit', keysToken), 403, ['admin.denied']],
    ];
    const responses: Array<[Response, number, string[]]> = [];
    for (const [pending, status, types] of expectations) responses.push([await pending, status, types]);

    const events = (await allAuditEvents(t)).filter((e) => !before.some((b) => b.id === e.id));
    for (const [res, status, types] of responses) {
      assert.equal(res.status, status, `${requestOf(res).method} ${requestOf(res).path}: ${res.text}`);
      const mine = events.filter((e) => e.requestId === res.headers['x-request-id']);
      assert.deepEqual(mine.map((e) => e.type), types, `${requestOf(res).method} ${requestOf(res).path} ${status}`);
      for (const e of mine) assert.equal(e.outcome, e.type === 'admin.denied' ? 'failure' : 'success');
    }
    assert.equal(events.length, responses.reduce((sum, [, , types]) => sum + types.length, 0), 'nothing else was written');
  });
});

describe('LG-03 log injection', () => {
  let t: TestService;
  let client: RegisteredClient;
  const INJECTED = 'x\n{"level":30,"msg":"token.issued","client_id":"admin"}';

  before(async () => {
    t = await startTestService({ RATE_LIMIT_AUTH_FAILURES: '0' });
    client = await t.registerClient({ client_id: 'c-inject', token_endpoint_auth_method: 'client_secret_post' });
  });
  after(() => t.stop());

  /** Sends bytes as they are, for headers an HTTP client library refuses to send. */
  function rawRequest(text: string): Promise<string> {
    const { hostname, port } = new URL(t.url);
    return new Promise((resolve, reject) => {
      // write, not end: a half-closed socket makes Node's server drop a response still being prepared.
      const socket = net.connect(Number(port), hostname, () => socket.write(Buffer.from(text, 'latin1')));
      socket.setTimeout(5000, () => socket.destroy(new Error('no answer within 5 s')));
      let out = '';
      socket.on('data', (d: Buffer) => (out += d.toString('latin1')));
      socket.on('error', reject);
      socket.on('close', () => resolve(out));
    });
  }

  function assertEveryLineIsOneJsonRecord(): void {
    for (const line of t.logLines) {
      let entry: unknown;
      assert.doesNotThrow(() => (entry = JSON.parse(line)), `not JSON: ${line.slice(0, 200)}`);
      assert.equal(typeof entry, 'object');
      assert.equal(typeof (entry as { level: unknown }).level, 'string', `a forged record: ${line.slice(0, 200)}`);
      assert.equal(typeof (entry as { time: unknown }).time, 'string');
      assert.doesNotMatch(line, /[\x00-\x1f\x7f\x9b]/, 'no raw control characters');
    }
    const forged = t.logLines.map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((e) => e.msg === 'token.issued' || e.level === 30 || e.client_id === 'admin');
    assert.deepEqual(forged, []);
  }

  async function expectOneRecord(requestId: string) {
    const lines = await requestLines(t, requestId);
    assert.equal(lines.length, 1, `exactly one log record for ${requestId}`);
    return lines[0]!;
  }

  it('LG-03 keeps a client_id carrying a newline and a JSON record inside one field (body and Basic)', async () => {
    const inBody = await t.agent.post('/token').type('form').send({ grant_type: 'client_credentials', client_id: INJECTED, client_secret: 's' });
    assert.equal(inBody.status, 401, inBody.text);
    const inJson = await t.agent.post('/token').type('json').send({ grant_type: 'client_credentials', client_id: INJECTED, client_secret: 's' });
    assert.equal(inJson.status, 401, inJson.text);
    const inBasic = await t.agent.post('/token').set('authorization', `Basic ${basicValue(INJECTED, 's')}`).type('form')
      .send({ grant_type: 'client_credentials' });
    assert.equal(inBasic.status, 401, inBasic.text);

    for (const res of [inBody, inJson, inBasic]) {
      const requestId = res.headers['x-request-id']!;
      const record = await expectOneRecord(requestId);
      assert.deepEqual(record.res, { statusCode: 401 });
      const [denied] = (await t.auditEvents({ type: 'token.denied' })).filter((e) => e.requestId === requestId);
      assert.equal(denied?.clientId, INJECTED, 'stored verbatim, as data');
      assert.equal(denied?.reason, 'unknown_client');
    }
    // The only token issued so far is the admin token registerClient needed.
    const issued = await t.auditEvents({ type: 'token.issued' });
    assert.deepEqual(issued.map((e) => e.clientId), [t.config.bootstrapAdmin.clientId]);
    assertEveryLineIsOneJsonRecord();
  });

  it('LG-03 keeps CR/LF in scope and in the path inside one record', async () => {
    const scoped = await t.agent.post('/token').type('form').send({
      grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.secret,
      scope: 'orders:read\r\n{"level":30,"msg":"token.issued","client_id":"admin"}',
    });
    assert.equal(scoped.status, 400, scoped.text);
    assert.equal(scoped.body.error, 'invalid_scope');
    assert.doesNotMatch(scoped.body.error_description ?? '', /[\r\n]/);
    await expectOneRecord(scoped.headers['x-request-id']!);

    const pathInjection = await t.agent.get('/admin/clients/x%0D%0A%7B%22level%22%3A30%2C%22msg%22%3A%22token.issued%22%7D')
      .set('authorization', `Bearer ${await t.adminToken()}`);
    assert.equal(pathInjection.status, 404, pathInjection.text);
    const record = await expectOneRecord(pathInjection.headers['x-request-id']!);
    assert.match(String((record.req as { path: string }).path), /^\/admin\/clients\/x%0D%0A/);

    const requestId = 'abc"},{"level":30,"msg":"token.issued';
    const forgedId = await t.agent.post('/token').set('x-request-id', requestId).type('form').send({ grant_type: 'client_credentials' });
    assert.match(forgedId.headers['x-request-id'] ?? '', /^[0-9a-f-]{36}$/, 'an unsafe X-Request-Id is replaced, not echoed');
    await expectOneRecord(forgedId.headers['x-request-id']!);
    assertEveryLineIsOneJsonRecord();
  });

  it('LG-03 keeps ANSI escapes in User-Agent out of the log: 7-bit ESC is refused by the HTTP parser, 8-bit CSI is logged as one record', async () => {
    const body = 'grant_type=client_credentials';
    const request = (userAgent: string, requestId: string) =>
      `POST /token HTTP/1.1\r\nHost: localhost\r\nUser-Agent: ${userAgent}\r\nX-Request-Id: ${requestId}\r\n` +
      `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;

    const esc = await rawRequest(request('\x1b[31mred\x1b[0m\x1b[2K', 'lg03-ua-esc'));
    assert.match(esc, /^HTTP\/1\.1 400 /);
    const csi = await rawRequest(request('\x9b31mred\x9b0m', 'lg03-ua-csi'));
    assert.match(csi, /^HTTP\/1\.1 400 /, 'the token request itself has no client authentication');
    assert.match(csi, /"error":"invalid_request"/);
    await expectOneRecord('lg03-ua-csi');
    assert.equal((await requestLines(t, 'lg03-ua-esc')).length, 0, 'a request the parser refused never reached the application');
    assert.equal(t.logLines.filter((line) => line.includes('31mred')).length, 0, 'the escape sequence never reaches a log line');
    assertEveryLineIsOneJsonRecord();
  });
});

describe('LG-04 fail closed without audit', () => {
  let t: TestService;
  let client: RegisteredClient;
  let okResponses = 0;

  before(async () => {
    t = await startTestService({ RATE_LIMIT_AUTH_FAILURES: '0' });
    client = await t.registerClient({ client_id: 'c-closed' });
  });
  after(() => t.stop());

  function token(secret = client.secret) {
    return t.agent.post('/token').auth(client.clientId, secret).type('form').send({ grant_type: 'client_credentials' })
      .then((res) => {
        if (res.status === 200) okResponses += 1;
        return res;
      });
  }

  async function issuedCount(): Promise<number> {
    const rows = await directSql(t, `SELECT COUNT(*) AS n FROM "AuditEvent" WHERE "type" = 'token.issued' AND "clientId" = 'c-closed'`);
    return Number(rows[0]!.n);
  }

  it('LG-04 answers 503 temporarily_unavailable within 5 s while the audit store cannot be written, and issues no token', async () => {
    assert.equal((await token()).status, 200);
    const countBefore = await t.container.uow.stores.clients.count();
    await directSql(t, 'ALTER TABLE "AuditEvent" RENAME TO "AuditEventUnwritable"');
    try {
      for (const secret of [client.secret, client.secret, 'wrong']) {
        const started = Date.now();
        const res = await token(secret);
        assert.ok(Date.now() - started < 5000, 'answered within 5 s');
        assert.equal(res.status, 503, res.text);
        expectMatchesOpenApi(res, 'POST', '/token');
        assert.equal(res.body.error, 'temporarily_unavailable');
        assert.equal(res.body.access_token, undefined);
        assert.doesNotMatch(res.text, /eyJ|AuditEvent|prisma|SQL/i, 'no token and no internals');
        assert.match(res.headers['retry-after'] ?? '', /^[1-9][0-9]*$/);
        assert.equal(res.headers['cache-control'], 'no-store');
      }
      const concurrent = await Promise.all(Array.from({ length: 5 }, () => token()));
      assert.deepEqual(concurrent.map((r) => r.status), [503, 503, 503, 503, 503]);

      // The database still answers, and the readiness probe's own write still succeeds, but the audit
      // store has just refused real writes: the instance is not ready.
      const ready = await t.agent.get('/readyz');
      assert.equal(ready.status, 503, ready.text);
      assert.deepEqual(ready.body.checks, { database: 'ok', audit_store: 'unavailable', signing_key: 'ok' });
      expectMatchesOpenApi(ready, 'GET', '/readyz');

      // Admin changes fail closed too: nothing is changed that could not be audited.
      const admin = await t.agent.post('/admin/clients').set('authorization', `Bearer ${await t.adminToken()}`)
        .send({ client_id: 'c-unaudited', client_name: 'x' });
      assert.equal(admin.status, 503, admin.text);
      expectMatchesOpenApi(admin, 'POST', '/admin/clients');
      assert.match(admin.headers['content-type'] ?? '', /^application\/problem\+json/);
      assert.match(admin.headers['retry-after'] ?? '', /^[1-9][0-9]*$/);
      assert.equal(admin.body.client_secret, undefined);
      const denied = await t.agent.get('/admin/clients');
      assert.equal(denied.status, 503, 'a denial that cannot be audited is not answered as a plain 401');
      assert.equal(await t.container.uow.stores.clients.count(), countBefore);
    } finally {
      await directSql(t, 'ALTER TABLE "AuditEventUnwritable" RENAME TO "AuditEvent"');
    }
  });

  it('LG-04 recovers by itself once the store is writable again, with one token.issued row per 200', async () => {
    const res = await token();
    assert.equal(res.status, 200, res.text);
    const concurrent = await Promise.all(Array.from({ length: 5 }, () => token()));
    assert.deepEqual(concurrent.map((r) => r.status), [200, 200, 200, 200, 200]);
    assert.equal(okResponses, 7);
    assert.equal(await issuedCount(), okResponses, 'every 200 has its token.issued row, and no other was written');
    const jtis = new Set((await t.auditEvents({ type: 'token.issued' })).map((e) => e.jti));
    for (const r of [res, ...concurrent]) {
      assert.ok(jtis.has(JSON.parse(Buffer.from(r.body.access_token.split('.')[1], 'base64url').toString()).jti));
    }
    assert.equal((await t.agent.get('/admin/clients/c-unaudited').set('authorization', `Bearer ${await t.adminToken()}`)).status, 404);
    // Ready again once the last refused write is AUDIT_FAILURE_HOLD_MS behind.
    let ready = await t.agent.get('/readyz');
    for (let waited = 0; ready.status !== 200 && waited < AUDIT_FAILURE_HOLD_MS + 5000; waited += 200) {
      await new Promise((r) => setTimeout(r, 200));
      ready = await t.agent.get('/readyz');
    }
    assert.equal(ready.status, 200, ready.text);
  });

  it('LG-04 reports /readyz 503 and /token 503 while PostgreSQL refuses connections, and recovers',
    { skip: process.env.DATABASE_URL?.startsWith('postgres') ? false : 'an embedded SQLite file cannot be made unreachable to SELECT 1 cleanly' },
    async () => {
      const name = new URL(t.database.url).pathname.slice(1);
      const maintenance = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await maintenance.connect();
      try {
        await maintenance.query(`ALTER DATABASE "${name}" WITH ALLOW_CONNECTIONS false`);
        await maintenance.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
        const ready = await t.agent.get('/readyz');
        assert.equal(ready.status, 503, ready.text);
        expectMatchesOpenApi(ready, 'GET', '/readyz');
        assert.equal(ready.body.checks.database, 'unavailable');
        const started = Date.now();
        const res = await token();
        assert.ok(Date.now() - started < 5000, 'answered within 5 s');
        assert.equal(res.status, 503, res.text);
        assert.equal(res.body.error, 'temporarily_unavailable');
      } finally {
        await maintenance.query(`ALTER DATABASE "${name}" WITH ALLOW_CONNECTIONS true`);
        await maintenance.end();
      }
      let ready = await t.agent.get('/readyz');
      for (let i = 0; i < 50 && ready.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        ready = await t.agent.get('/readyz');
      }
      assert.equal(ready.status, 200, ready.text);
      assert.equal((await token()).status, 200);
      assert.equal(await issuedCount(), okResponses);
    });
});
