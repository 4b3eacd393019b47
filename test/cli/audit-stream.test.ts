// `audit tail` and `audit verify` against a loopback stand-in for exactly the two endpoints of
// the contract they are written to (GET /admin/audit/stream: SSE with `id`, `event: audit`,
// `data: <item>` and Last-Event-ID resumption; POST /admin/audit/verify), until the service
// itself serves them; the rest of the command line is tested against the real service.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ensureCliBuilt, jsonOf, runCli } from '../helpers/cli.ts';

const TOKEN = 'stand-in-admin-token';

const event = (n: number, type = 'token.issued') => ({
  id: `evt-${n}`, time: new Date(Date.UTC(2026, 11, 1, 12, 0, n)).toISOString(), type, outcome: 'success', reason: null,
  client_id: `client-${n}`, auth_method: 'client_secret_basic', audience: 'https://orders.internal', scope: 'orders:read',
  jti: `jti-${n}`, kid: null, source_address: '127.0.0.1', request_id: `req-${n}`, details: null,
});

type Connection = (res: http.ServerResponse) => void;

describe('audit tail and audit verify (against the contract, on a loopback stand-in)', () => {
  let server: http.Server;
  let url: string;
  /** What each successive stream connection sends; the last one is reused. */
  let connections: Connection[];
  let lastEventIds: Array<string | undefined>;
  let verification: unknown;

  before(async () => {
    await ensureCliBuilt();
    server = http.createServer((req, res) => {
      const problem = (status: number, detail: string) => {
        res.writeHead(status, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ type: status === 401 ? '/problems/unauthenticated' : '/problems/not-found', title: 'x', status, detail }));
      };
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return problem(401, 'the access token is not valid');
      if (req.method === 'GET' && req.url === '/admin/audit/stream') {
        lastEventIds.push(req.headers['last-event-id'] as string | undefined);
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
        const script = connections[Math.min(lastEventIds.length - 1, connections.length - 1)]!;
        return script(res);
      }
      if (req.method === 'POST' && req.url === '/admin/audit/verify') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify(verification));
      }
      problem(404, 'no such admin resource');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  beforeEach(() => {
    lastEventIds = [];
  });

  const send = (res: http.ServerResponse, n: number, type?: string) => res.write(`id: evt-${n}\nevent: audit\ndata: ${JSON.stringify(event(n, type))}\n\n`);
  const cli = (args: string[], token = TOKEN) => runCli(args, { IDENTITY_URL: url, IDENTITY_ADMIN_TOKEN: token });

  it('prints each event as one JSON line, and after a dropped stream resumes with Last-Event-ID of the last event seen', async () => {
    connections = [
      (res) => {
        // A short reconnection delay, a comment and an event of another kind, which are not printed.
        res.write('retry: 10\n: keep-alive\n\nevent: ping\ndata: {}\n\n');
        send(res, 1);
        send(res, 2);
        res.end();
      },
      (res) => send(res, 3),
    ];
    const run = await cli(['--json', 'audit', 'tail', '--count', '3']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdout.trimEnd().split('\n').map((l) => JSON.parse(l)), [event(1), event(2), event(3)]);
    assert.deepEqual(lastEventIds, [undefined, 'evt-2']);
  });

  it('starts after --after, keeps only the --type asked for, and prints one line per event in text', async () => {
    connections = [(res) => {
      send(res, 8, 'token.denied');
      send(res, 9, 'client.created');
      send(res, 10, 'token.denied');
    }];
    const run = await cli(['audit', 'tail', '--after', 'evt-7', '--type', 'token.denied', '--count', '2']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(lastEventIds, ['evt-7']);
    assert.deepEqual(run.stdout.trimEnd().split('\n'), [8, 10].map((n) => `${event(n).time}  token.denied  success  client-${n}  -  req-${n}`));
  });

  it('a refused token ends tail at once with exit code 4 and one line', async () => {
    const run = await cli(['audit', 'tail'], 'wrong-token');
    assert.equal(run.code, 4);
    assert.equal(run.stdout, '');
    assert.equal(run.stderr, 'identity-backend: the access token is not valid (HTTP 401)\n');
  });

  it('verify exits 0 when the log is intact; --json prints the verification as the service answered it', async () => {
    verification = { intact: true, events_checked: 1200, checkpoints_checked: 12, first_mismatch: null };
    const text = await cli(['audit', 'verify']);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout, 'intact: 1200 events and 12 checkpoints checked\n');
    const json = await cli(['--json', 'audit', 'verify']);
    assert.equal(json.code, 0);
    assert.deepEqual(jsonOf(json), verification);
  });

  it('verify exits 1 when the log was altered, naming the first mismatch', async () => {
    verification = {
      intact: false, events_checked: 431, checkpoints_checked: 4,
      first_mismatch: { event_id: 'evt-430', problem: 'hash_mismatch', description: 'the event differs from what its successor\'s chain records' },
    };
    const text = await cli(['audit', 'verify']);
    assert.equal(text.code, 1);
    assert.equal(text.stdout, 'NOT INTACT: 431 events and 4 checkpoints checked; first mismatch at event evt-430: hash_mismatch: the event differs from what its successor\'s chain records\n');
    const json = await cli(['--json', 'audit', 'verify']);
    assert.equal(json.code, 1);
    assert.deepEqual(jsonOf(json), verification);
  });

  it('a service without the endpoints says so (exit 1), not "not found" of something named', async () => {
    const run = await runCli(['audit', 'verify'], { IDENTITY_URL: `${url}/elsewhere`, IDENTITY_ADMIN_TOKEN: TOKEN });
    assert.equal(run.code, 1);
    assert.equal(run.stderr, 'identity-backend: the service at this URL has no POST /admin/audit/verify (an older version?)\n');
  });
});
