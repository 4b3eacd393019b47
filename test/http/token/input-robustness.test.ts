import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { decodeJwt } from 'jose';
import pg from 'pg';
import { startTestService, type RegisteredClient, type TestService } from '../../helpers/start-app.ts';

const ORDERS = 'https://orders.internal';
const INVENTORY = 'https://inventory.internal';
const GT = 'grant_type=client_credentials';
/** RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E. */
const DESCRIPTION_CHARS = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
/** What an error body must never carry: stack frames, source paths, SQL or parser internals. */
const LEAKS = /\bat \S+ \(|node_modules|\/src\/|\.ts\b|\bselect\b|\binsert\b|prisma|sqlite|syntaxerror|unexpected token/i;

/** What both supertest and the raw socket exchange give back. */
type Answer = { status: number; headers: Record<string, string | string[] | undefined>; text: string };
type RawAnswer = Answer & { closed: boolean; elapsedMs: number };

function basicHeader(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
}

/**
 * Writes `request` on a fresh socket and reads until the server closes it (or `waitMs` passes).
 * supertest cannot send malformed framing, omit Content-Type, or see Node's own 4xx answers.
 */
function rawExchange(port: number, request: string | Buffer, waitMs = 3000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      const raw = Buffer.concat(chunks).toString('latin1');
      const split = raw.indexOf('\r\n\r\n');
      const head = split < 0 ? raw : raw.slice(0, split);
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const body = split < 0 ? '' : Buffer.from(raw.slice(split + 4), 'latin1').toString('utf8');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, text: body, closed, elapsedMs: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', () => undefined);
    socket.on('close', () => finish(true));
  });
}

function tokenRequestHead(port: number, headers: string[]): string {
  return [`POST /token HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close', ...headers, '', ''].join('\r\n');
}

describe('POST /token input robustness (group I)', () => {
  let t: TestService;
  let port: number;
  let basic: RegisteredClient;
  let post: RegisteredClient;
  let multi: RegisteredClient;

  before(async () => {
    // Many deliberate authentication failures follow; the lockout (group J) would otherwise turn them into 429s.
    t = await startTestService({ RATE_LIMIT_AUTH_FAILURES: '0' });
    port = Number(new URL(t.url).port);
    basic = await t.registerClient({ client_id: 'c-basic' });
    post = await t.registerClient({ client_id: 'c-post', token_endpoint_auth_method: 'client_secret_post' });
    multi = await t.registerClient({ client_id: 'c-multi', audience: [ORDERS, INVENTORY] });
  });
  after(() => t.stop());

  const postForm = () => `${GT}&client_id=c-post&client_secret=${encodeURIComponent(post.secret)}`;

  function sendBasic(type: string | undefined, body: string | Buffer) {
    const req = t.agent.post('/token').auth(basic.clientId, basic.secret);
    if (type !== undefined) req.set('content-type', type);
    return req.send(body);
  }

  async function eventsOf(res: Answer, type: 'token.issued' | 'token.denied') {
    const requestId = res.headers['x-request-id'];
    assert.ok(requestId, 'every response names its request id');
    return (await t.auditEvents({ type })).filter((e) => e.requestId === requestId);
  }

  /** The rejection contract R: JSON error, no-store, a safe description, no leak, no token, one token.denied with its reason. */
  async function expectRejected(res: Answer, status: number, error: string, reason: string) {
    assert.equal(res.status, status, res.text);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(res.headers['cache-control'], 'no-store');
    const body = JSON.parse(res.text) as Record<string, string>;
    assert.deepEqual(Object.keys(body).sort(), ['error', 'error_description']);
    assert.equal(body.error, error);
    assert.match(body.error_description!, DESCRIPTION_CHARS);
    assert.doesNotMatch(res.text, LEAKS);
    const denied = await eventsOf(res, 'token.denied');
    assert.equal(denied.length, 1, 'exactly one token.denied per refusal');
    assert.equal(denied[0]!.reason, reason);
    assert.equal((await eventsOf(res, 'token.issued')).length, 0);
  }

  async function expectIssued(res: Answer) {
    assert.equal(res.status, 200, res.text);
    const body = JSON.parse(res.text) as { access_token: string };
    assert.equal((await eventsOf(res, 'token.issued')).length, 1);
    return decodeJwt(body.access_token);
  }

  describe('IN-01 content types', () => {
    const multipart = [
      '--XyZ', 'Content-Disposition: form-data; name="grant_type"', '', 'client_credentials', '--XyZ--', '',
    ].join('\r\n');
    const refused: Array<[string, string, string]> = [
      ['text/plain', 'text/plain', GT],
      ['multipart/form-data', 'multipart/form-data; boundary=XyZ', multipart],
      ['application/xml', 'application/xml', '<grant_type>client_credentials</grant_type>'],
      ['an unknown charset', 'application/x-www-form-urlencoded; charset=BOGUS', GT],
    ];
    for (const [what, type, body] of refused) {
      it(`IN-01 answers invalid_request as OAuth JSON for ${what}`, async () => {
        const res = await sendBasic(type, body);
        await expectRejected(res, 400, 'invalid_request', 'unsupported_content_type');
      });
    }

    it('IN-01 answers invalid_request as OAuth JSON when Content-Type is missing', async () => {
      const res = await rawExchange(port, tokenRequestHead(port, [
        `Authorization: ${basicHeader(basic.clientId, basic.secret)}`, `Content-Length: ${GT.length}`,
      ]) + GT);
      await expectRejected(res, 400, 'invalid_request', 'unsupported_content_type');
    });

    it('IN-01 accepts a JSON body with the same fields (contract §2)', async () => {
      const res = await t.agent.post('/token').set('content-type', 'application/json')
        .send(JSON.stringify({ grant_type: 'client_credentials', client_id: 'c-post', client_secret: post.secret, scope: 'orders:read' }));
      const claims = await expectIssued(res);
      assert.equal(claims.client_id, 'c-post');
      assert.equal(claims.scope, 'orders:read');
    });

    it('IN-01 accepts form bodies that name the UTF-8 charset', async () => {
      const res = await sendBasic('application/x-www-form-urlencoded; charset=UTF-8', GT);
      await expectIssued(res);
    });
  });

  describe('IN-02 duplicate and structured parameters', () => {
    const repeats: Array<[string, string, string]> = [
      ['grant_type', 'client_credentials', 'client_credentials'],
      ['grant_type', 'client_credentials', 'password'],
      ['client_id', 'c-post', 'c-post'],
      ['client_id', 'c-post', 'c-basic'],
      ['client_secret', 'SAME', 'SAME'],
      ['client_secret', 'SAME', 'other'],
      ['scope', 'orders:read', 'orders:read'],
      ['scope', 'orders:read', 'orders:write'],
      ['client_assertion', 'a.b.c', 'a.b.c'],
      ['client_assertion', 'a.b.c', 'd.e.f'],
    ];
    for (const [name, first, second] of repeats) {
      it(`IN-02 answers invalid_request for ${name} sent twice (${first === second ? 'equal' : 'different'} values)`, async () => {
        const value = (v: string) => encodeURIComponent(v === 'SAME' ? post.secret : v);
        const base = name === 'client_secret' || name === 'client_id' || name === 'grant_type' ? postForm() : `${postForm()}&${name}=${value(first)}`;
        const body = `${base}&${name}=${value(second)}`;
        const res = await t.agent.post('/token').type('form').send(body);
        await expectRejected(res, 400, 'invalid_request', 'duplicate_parameter');
      });
    }

    for (const bracketed of ['client_secret[]=a', 'client_secret[a]=b']) {
      it(`IN-02 answers invalid_request for the structured parameter ${bracketed}`, async () => {
        const res = await t.agent.post('/token').type('form').send(`${GT}&client_id=c-post&${encodeURI(bracketed)}`);
        await expectRejected(res, 400, 'invalid_request', 'malformed_request');
      });
    }

    const structured: Array<[string, unknown]> = [
      ['an array of two secrets', ['a', 'b']],
      ['an array of the one right secret', 'RIGHT'],
      ['an object', { a: 'b' }],
    ];
    for (const [what, secret] of structured) {
      it(`IN-02 answers invalid_request for a JSON client_secret that is ${what}`, async () => {
        const res = await t.agent.post('/token').set('content-type', 'application/json').send(JSON.stringify({
          grant_type: 'client_credentials', client_id: 'c-post', client_secret: secret === 'RIGHT' ? [post.secret] : secret,
        }));
        await expectRejected(res, 400, 'invalid_request', 'malformed_request');
      });
    }

    it('IN-02 allows resource to repeat', async () => {
      const res = await t.agent.post('/token').auth(multi.clientId, multi.secret).type('form')
        .send(`${GT}&resource=${encodeURIComponent(ORDERS)}&resource=${encodeURIComponent(INVENTORY)}`);
      assert.deepEqual((await expectIssued(res)).aud, [ORDERS, INVENTORY]);
    });

    it('IN-02 allows audience to repeat, with equal values collapsed', async () => {
      const res = await t.agent.post('/token').auth(multi.clientId, multi.secret).type('form')
        .send(`${GT}&audience=${encodeURIComponent(INVENTORY)}&audience=${encodeURIComponent(INVENTORY)}`);
      assert.equal((await expectIssued(res)).aud, INVENTORY);
    });

    it('IN-02 allows audience as a JSON array', async () => {
      const res = await t.agent.post('/token').auth(multi.clientId, multi.secret).set('content-type', 'application/json')
        .send(JSON.stringify({ grant_type: 'client_credentials', audience: [ORDERS, INVENTORY] }));
      assert.deepEqual((await expectIssued(res)).aud, [ORDERS, INVENTORY]);
    });
  });

  describe('IN-03 size limits', () => {
    it('IN-03 answers a 1 MB body with 413 JSON quickly, while other clients are served', async () => {
      const started = Date.now();
      const [big, other] = await Promise.all([
        sendBasic('application/x-www-form-urlencoded', `${GT}&pad=${'a'.repeat(1024 * 1024)}`),
        t.agent.post('/token').type('form').send(postForm()),
      ]);
      // The bound tells a prompt refusal from a stalled or hung one, with room for a busy machine.
      assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
      await expectRejected(big, 413, 'invalid_request', 'body_too_large');
      await expectIssued(other);
    });

    it('IN-03 answers invalid_request for 2,000 form parameters', async () => {
      const params = Array.from({ length: 2000 }, (_, i) => `p${i}=${i}`).join('&');
      const res = await sendBasic('application/x-www-form-urlencoded', `${GT}&${params}`);
      await expectRejected(res, 400, 'invalid_request', 'malformed_request');
    });

    it('IN-03 answers invalid_request for 2,000 JSON members', async () => {
      const body = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`p${i}`, String(i)]));
      const res = await sendBasic('application/json', JSON.stringify({ grant_type: 'client_credentials', ...body }));
      await expectRejected(res, 400, 'invalid_request', 'malformed_request');
    });

    it('IN-03 answers invalid_request for a 10 KB client_id in Basic credentials', async () => {
      const res = await t.agent.post('/token').set('authorization', basicHeader('c'.repeat(10 * 1024), 'secret')).type('form').send(GT);
      await expectRejected(res, 400, 'invalid_request', 'malformed_request');
    });

    it('IN-03 answers invalid_request for a 10 KB client_id in the body', async () => {
      const res = await t.agent.post('/token').type('form').send(`${GT}&client_id=${'c'.repeat(10 * 1024)}&client_secret=x`);
      await expectRejected(res, 400, 'invalid_request', 'malformed_request');
    });

    it('IN-03 answers 431 to a 20 KB Authorization header and closes the connection', async () => {
      const issuedBefore = (await t.auditEvents({ type: 'token.issued' })).length;
      const res = await rawExchange(port, tokenRequestHead(port, [
        `Authorization: ${basicHeader('c-basic', 'x'.repeat(20 * 1024))}`,
        'Content-Type: application/x-www-form-urlencoded', `Content-Length: ${GT.length}`,
      ]) + GT);
      assert.equal(res.status, 431, res.text);
      assert.equal(res.closed, true);
      assert.equal((await t.auditEvents({ type: 'token.issued' })).length, issuedBefore);
    });
  });

  describe('IN-04 unicode and control characters in the client id or secret', () => {
    type Expected = [status: 400 | 401, reason: string];
    const nulId: Expected = [400, 'malformed_request'];
    const badUtf8Post: Expected = [400, 'malformed_request'];
    const badUtf8Basic: Expected = [400, 'malformed_credentials'];
    const unknown: Expected = [401, 'unknown_client'];
    const wrongSecret: Expected = [401, 'invalid_secret'];
    // [what, how the raw %-encoded value is altered, expected for the id (post, Basic), expected for the secret]
    const variants: Array<[string, (s: string) => string, Expected, Expected, Expected]> = [
      ['%00', (s) => `${s}%00`, nulId, nulId, wrongSecret],
      ['CR/LF', (s) => `${s}%0D%0A`, unknown, unknown, wrongSecret],
      ['U+FEFF', (s) => `%EF%BB%BF${s}`, unknown, unknown, wrongSecret],
      ['U+202E', (s) => `${s}%E2%80%AE`, unknown, unknown, wrongSecret],
      ['an unpaired surrogate %ED%A0%80', (s) => `${s}%ED%A0%80`, badUtf8Post, badUtf8Basic, badUtf8Post],
      ['the overlong %C0%AF', (s) => `${s}%C0%AF`, badUtf8Post, badUtf8Basic, badUtf8Post],
      ['fullwidth letters', (s) => encodeURIComponent(s.replace(/[A-Za-z]/, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0))), unknown, unknown, wrongSecret],
    ];

    async function expectNoMatch(res: Answer, [status, reason]: Expected) {
      await expectRejected(res, status, status === 400 ? 'invalid_request' : 'invalid_client', reason);
    }

    for (const [what, alter, inPostId, inBasicId, inSecret] of variants) {
      it(`IN-04 never matches a client_secret_post client with ${what} in its id, and logs it escaped`, async () => {
        const linesBefore = t.logLines.length;
        const res = await t.agent.post('/token').type('form')
          .send(`${GT}&client_id=${alter('c-post')}&client_secret=${encodeURIComponent(post.secret)}`);
        await expectNoMatch(res, inPostId);
        for (const line of t.logLines.slice(linesBefore)) {
          assert.doesNotThrow(() => JSON.parse(line), `log line is not one JSON record: ${line}`);
          assert.doesNotMatch(line, /[\u0000\r\u202e\ufeff]/u, `log line carries a raw control character: ${JSON.stringify(line)}`);
        }
      });

      it(`IN-04 never matches a client_secret_post client with ${what} in its secret`, async () => {
        const res = await t.agent.post('/token').type('form')
          .send(`${GT}&client_id=c-post&client_secret=${alter(encodeURIComponent(post.secret))}`);
        await expectNoMatch(res, inSecret);
      });

      it(`IN-04 never matches a client_secret_basic client with ${what} in its Basic id`, async () => {
        const res = await t.agent.post('/token').set('authorization', basicHeader(alter('c-basic'), encodeURIComponent(basic.secret)))
          .type('form').send(GT);
        await expectNoMatch(res, inBasicId);
      });
    }

    it('IN-04 answers invalid_request, not a storage error, for a NUL id in a request refused before authentication', async () => {
      const res = await t.agent.post('/token').set('authorization', basicHeader('c-basic%00', 'x')).set('content-type', 'text/plain').send(GT);
      await expectRejected(res, 400, 'invalid_request', 'unsupported_content_type');
      const [denied] = await eventsOf(res, 'token.denied');
      assert.equal(denied!.clientId, undefined);
    });

    it('IN-04 keeps client ids ASCII, so an NFC id and its NFD form cannot both exist, and the NFD form matches nothing', async () => {
      const reg = await t.agent.post('/admin/clients').set('authorization', `Bearer ${await t.adminToken()}`)
        .send({ client_name: 'nfc', client_id: 'caf\u00e9' });
      assert.equal(reg.status, 400, reg.text);
      const res = await t.agent.post('/token').type('form')
        .send(`${GT}&client_id=${encodeURIComponent('cafe\u0301')}&client_secret=${encodeURIComponent(post.secret)}`);
      await expectRejected(res, 401, 'invalid_client', 'unknown_client');
    });
  });

  describe('IN-05 malformed JSON and type confusion', () => {
    const bodies: Array<[string, string]> = [
      ['a truncated body', '{"grant_type":"client_cre'],
      ['an empty body', ''],
      ['an array', '[]'],
      ['a string', '"str"'],
      ['null', 'null'],
      ['grant_type as a one-element array', '{"grant_type":["client_credentials"]}'],
      ['scope as a number', '{"grant_type":"client_credentials","scope":123}'],
      ['scope as null', '{"grant_type":"client_credentials","scope":null}'],
      ['10,000-deep object nesting', `{"grant_type":"client_credentials","x":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`],
      ['10,000-deep array nesting', `${'['.repeat(10_000)}${']'.repeat(10_000)}`],
    ];
    for (const [what, body] of bodies) {
      it(`IN-05 answers invalid_request without internals for ${what}`, async () => {
        const res = await sendBasic('application/json', body);
        await expectRejected(res, 400, 'invalid_request', 'malformed_request');
      });
    }

    it('IN-05 answers invalid_request for an operator object as client_secret', async () => {
      const res = await t.agent.post('/token').set('content-type', 'application/json')
        .send('{"grant_type":"client_credentials","client_id":"c-post","client_secret":{"$ne":null}}');
      await expectRejected(res, 400, 'invalid_request', 'malformed_request');
    });
  });

  describe('IN-06 message framing', () => {
    const auth = () => `Authorization: ${basicHeader(basic.clientId, encodeURIComponent(basic.secret))}`;
    const chunked = `${GT.length.toString(16)}\r\n${GT}\r\n0\r\n\r\n`;
    const ambiguous: Array<[string, string[], string]> = [
      ['Content-Length with Transfer-Encoding: chunked', [`Content-Length: ${GT.length}`, 'Transfer-Encoding: chunked'], chunked],
      ['two different Content-Length values', [`Content-Length: ${GT.length}`, `Content-Length: ${GT.length + 1}`], GT],
      ['two equal Content-Length values', [`Content-Length: ${GT.length}`, `Content-Length: ${GT.length}`], GT],
      ['Transfer-Encoding: chunked, identity', ['Transfer-Encoding: chunked, identity'], chunked],
    ];
    for (const [what, framing, body] of ambiguous) {
      it(`IN-06 answers 400 and closes the connection for ${what}`, async () => {
        const issuedBefore = (await t.auditEvents({ type: 'token.issued' })).length;
        const head = [`POST /token HTTP/1.1`, `Host: 127.0.0.1:${port}`, auth(), 'Content-Type: application/x-www-form-urlencoded', ...framing, '', ''];
        // No "Connection: close": the server itself must end the connection.
        const res = await rawExchange(port, head.join('\r\n') + body);
        assert.equal(res.status, 400, res.text);
        assert.equal(res.closed, true, 'the connection is closed');
        assert.doesNotMatch(res.text, /access_token/);
        assert.equal((await t.auditEvents({ type: 'token.issued' })).length, issuedBefore);
      });
    }

    it('IN-06 serves a plain chunked body', async () => {
      const res = await rawExchange(port, tokenRequestHead(port, [auth(), 'Content-Type: application/x-www-form-urlencoded', 'Transfer-Encoding: chunked']) + chunked);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.closed, true);
      assert.equal(decodeJwt(JSON.parse(res.text).access_token).client_id, 'c-basic');
    });
  });

  describe('IN-07 slow clients', () => {
    it('IN-07 closes a connection that sends its headers one byte per 200 ms once the 10 s headers timeout passes', async () => {
      const started = Date.now();
      const text = `POST /token HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Slow: ${'a'.repeat(200)}`;
      const slow = new Promise<{ closedAfterMs: number; answer: string }>((resolve) => {
        let answer = '';
        let sent = 0;
        const socket = net.connect(port, '127.0.0.1');
        const drip = setInterval(() => {
          if (socket.writable && sent < text.length) socket.write(text[sent++]!);
        }, 200);
        const guard = setTimeout(() => socket.destroy(), 25_000);
        socket.on('data', (d) => { answer += d.toString('latin1'); });
        socket.on('error', () => undefined);
        socket.on('close', () => {
          clearInterval(drip);
          clearTimeout(guard);
          resolve({ closedAfterMs: Date.now() - started, answer });
        });
      });
      // Others are served while the slow connection is held.
      await new Promise((r) => setTimeout(r, 1000));
      const other = await t.agent.post('/token').type('form').send(postForm());
      await expectIssued(other);

      const { closedAfterMs, answer } = await slow;
      assert.ok(closedAfterMs >= 9_500, `closed after ${closedAfterMs} ms, before the headers timeout`);
      assert.ok(closedAfterMs <= 20_000, `closed after ${closedAfterMs} ms, well after the 10 s headers timeout`);
      assert.match(answer, /^HTTP\/1\.1 408 /);
    });
  });
});

describe('token, admin and discovery response headers (group L)', () => {
  let t: TestService;
  let basic: RegisteredClient;
  let post: RegisteredClient;

  before(async () => {
    t = await startTestService();
    basic = await t.registerClient({ client_id: 'c-basic' });
    post = await t.registerClient({ client_id: 'c-post', token_endpoint_auth_method: 'client_secret_post' });
  });
  after(() => t.stop());

  /** Runs one statement on the service's database over a connection of its own. */
  async function onServiceDatabase(sql: string): Promise<void> {
    const target = t.config.database;
    if (target.provider === 'sqlite') {
      const db = new Database(target.file, { timeout: 5000 });
      try {
        db.exec(sql);
      } finally {
        db.close();
      }
      return;
    }
    const client = new pg.Client({ connectionString: target.url });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  }

  function expectTokenHeaders(res: Answer, status: number) {
    assert.equal(res.status, status, res.text);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(res.headers['set-cookie'], undefined);
    assert.equal(res.headers.etag, undefined);
    if (status === 200) assert.equal(res.headers.pragma, 'no-cache');
  }

  function expectSecurityHeaders(res: Answer) {
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    const csp = String(res.headers['content-security-policy'] ?? '');
    assert.ok(res.headers['x-frame-options'] === 'DENY' || /frame-ancestors 'none'/.test(csp), `no framing protection: ${csp}`);
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    assert.equal(res.headers['x-powered-by'], undefined);
    assert.doesNotMatch(String(res.headers.server ?? ''), /\d/, 'no server version');
    const hsts = res.headers['strict-transport-security'];
    if (hsts !== undefined) assert.ok(Number(/max-age=(\d+)/.exec(String(hsts))?.[1]) >= 31_536_000, String(hsts));
  }

  describe('HD-01 token responses', () => {
    it('HD-01 sends no-store and Pragma on a 200', async () => {
      const res = await t.agent.post('/token').auth(basic.clientId, basic.secret).type('form').send(GT);
      expectTokenHeaders(res, 200);
    });

    it('HD-01 sends no-store on 400, 401, 405 and 413', async () => {
      expectTokenHeaders(await t.agent.post('/token').auth(basic.clientId, basic.secret).type('form').send(`${GT}&scope=nope`), 400);
      expectTokenHeaders(await t.agent.post('/token').auth(basic.clientId, 'wrong').type('form').send(GT), 401);
      expectTokenHeaders(await t.agent.get('/token'), 405);
      expectTokenHeaders(await t.agent.post('/token').type('form').send(`${GT}&pad=${'a'.repeat(70 * 1024)}`), 413);
    });

    it('HD-01 sends no-store and Retry-After on a 429', async () => {
      const probe = 'hd-locked-probe';
      for (let i = 0; i < t.config.rateLimits.authFailures; i++) {
        const res = await t.agent.post('/token').auth(probe, 'wrong').type('form').send(GT);
        assert.equal(res.status, 401, res.text);
      }
      const res = await t.agent.post('/token').auth(probe, 'wrong').type('form').send(GT);
      expectTokenHeaders(res, 429);
      assert.equal(res.body.error, 'rate_limited');
      assert.match(res.headers['retry-after'] ?? '', /^\d+$/);
    });

    it('HD-01 answers 503 temporarily_unavailable with no-store and Retry-After when the audit store fails, then recovers', async () => {
      await onServiceDatabase('ALTER TABLE "AuditEvent" RENAME TO "AuditEvent_off"');
      let res;
      try {
        res = await t.agent.post('/token').auth(basic.clientId, basic.secret).type('form').send(GT);
      } finally {
        await onServiceDatabase('ALTER TABLE "AuditEvent_off" RENAME TO "AuditEvent"');
      }
      expectTokenHeaders(res, 503);
      assert.deepEqual(Object.keys(res.body).sort(), ['error', 'error_description']);
      assert.equal(res.body.error, 'temporarily_unavailable');
      assert.equal(res.headers['retry-after'], '5');
      assert.doesNotMatch(res.text, /access_token|eyJ/);
      assert.doesNotMatch(res.text, LEAKS);
      // No token left without an audit record: the failed request left no token.issued.
      assert.equal((await t.auditEvents({ type: 'token.issued' })).filter((e) => e.requestId === res.headers['x-request-id']).length, 0);

      const recovered = await t.agent.post('/token').auth(basic.clientId, basic.secret).type('form').send(GT);
      expectTokenHeaders(recovered, 200);
    });
  });

  describe('HD-02 security headers', () => {
    it('HD-02 sets the helmet headers on token, discovery, ops and 404 responses', async () => {
      const responses = await Promise.all([
        t.agent.post('/token').auth(basic.clientId, basic.secret).type('form').send(GT),
        t.agent.post('/token').type('form').send(GT),
        t.agent.get('/.well-known/jwks.json'),
        t.agent.get('/.well-known/oauth-authorization-server'),
        t.agent.get('/healthz'),
        t.agent.get('/no-such-endpoint'),
      ]);
      assert.deepEqual(responses.map((r) => r.status), [200, 400, 200, 200, 200, 404]);
      responses.forEach(expectSecurityHeaders);
    });

    it('HD-02 sets the helmet headers on admin errors', async () => {
      const admin = `Bearer ${await t.adminToken()}`;
      const responses = await Promise.all([
        t.agent.get('/admin/clients'),
        t.agent.get('/admin/no-such-resource').set('authorization', admin),
        t.agent.get('/admin/clients/nobody').set('authorization', admin),
        t.agent.post('/admin/clients').set('authorization', admin).send({}),
      ]);
      assert.deepEqual(responses.map((r) => r.status), [401, 404, 404, 400]);
      for (const res of responses) {
        assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
        expectSecurityHeaders(res);
      }
    });
  });

  describe('HD-03 WWW-Authenticate and CORS', () => {
    it('HD-03 challenges with Basic on a Basic 401', async () => {
      const res = await t.agent.post('/token').auth(basic.clientId, 'wrong').type('form').send(GT);
      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], `Basic realm="${t.config.issuer}", charset="UTF-8"`);
    });

    it('HD-03 sends no challenge on a body-credential 401', async () => {
      const res = await t.agent.post('/token').type('form').send(`${GT}&client_id=c-post&client_secret=wrong`);
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'invalid_client');
      assert.equal(res.headers['www-authenticate'], undefined);
    });

    it('HD-03 challenges with Bearer invalid_token on an admin 401', async () => {
      const missing = await t.agent.get('/admin/clients');
      const bogus = await t.agent.get('/admin/clients').set('authorization', 'Bearer not.a.token');
      for (const res of [missing, bogus]) {
        assert.equal(res.status, 401);
        assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"');
      }
    });

    for (const path of ['/token', '/admin/clients']) {
      it(`HD-03 grants no CORS to a preflight from another origin to ${path}`, async () => {
        const res = await t.agent.options(path)
          .set('origin', 'https://evil.example')
          .set('access-control-request-method', 'POST')
          .set('access-control-request-headers', 'authorization, content-type');
        assert.notEqual(res.status, 200);
        assert.ok(res.status < 500, String(res.status));
        assert.equal(res.headers['access-control-allow-origin'], undefined);
        assert.equal(res.headers['access-control-allow-credentials'], undefined);
        assert.equal(res.headers['access-control-allow-methods'], undefined);
      });
    }

    it('HD-03 grants no CORS on actual cross-origin token and admin requests', async () => {
      const token = await t.agent.post('/token').set('origin', 'https://evil.example').auth(post.clientId, 'x').type('form').send(GT);
      const admin = await t.agent.get('/admin/clients').set('origin', 'https://evil.example').set('authorization', `Bearer ${await t.adminToken()}`);
      assert.equal(admin.status, 200);
      for (const res of [token, admin]) assert.equal(res.headers['access-control-allow-origin'], undefined);
    });

    for (const path of ['/.well-known/jwks.json', '/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      it(`HD-03 lets any origin read ${path}, without credentials`, async () => {
        const res = await t.agent.get(path).set('origin', 'https://evil.example');
        assert.equal(res.status, 200);
        assert.equal(res.headers['access-control-allow-origin'], '*');
        assert.equal(res.headers['access-control-allow-credentials'], undefined);
      });
    }
  });
});
