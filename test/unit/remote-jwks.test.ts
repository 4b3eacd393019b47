import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createRemoteJwksCache, JwksUnavailable } from '../../src/oauth/client-auth/remote-jwks.ts';
import type { Resolver } from '../../src/shared/guarded-fetch.ts';
import { isNonPublicAddress, isNonPublicHost } from '../../src/shared/non-public-address.ts';

/**
 * The jwks_uri fetch (RFC 8725 §3.10, ASVS 13.2.4), built directly: registration already refuses
 * these URIs by name, so only a client whose name later resolves elsewhere (DNS rebinding) gets here.
 */

const MAX_BYTES = 65_536;
const cacheWith = (opts: { allowInsecure: boolean; resolve?: Resolver }) =>
  createRemoteJwksCache({ timeoutMs: 10_000, ttlMs: 300_000, cooldownMs: 30_000, maxBytes: MAX_BYTES, ...opts });

/** A TCP listener on 127.0.0.1 that only counts the connections it gets. */
async function connectionCounter() {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, connections: () => connections, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function expectUnavailable(promise: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof JwksUnavailable, String(error));
    assert.match(error.message, message);
    return true;
  });
}

describe('jwks_uri fetch: addresses checked at connect time (DNS rebinding)', () => {
  let counter: Awaited<ReturnType<typeof connectionCounter>>;
  before(async () => {
    counter = await connectionCounter();
  });
  after(() => counter.close());

  it('AS-11 refuses a name that resolves to 127.0.0.1 before connecting: a custom resolver standing in for rebinding DNS', async () => {
    const asked: string[] = [];
    const rebinding: Resolver = (hostname, _options, callback) => {
      asked.push(hostname);
      callback(null, [{ address: '127.0.0.1', family: 4 }]);
    };
    const jwks = cacheWith({ allowInsecure: false, resolve: rebinding });
    await expectUnavailable(jwks.get(`https://keys.rebind.example:${counter.port}/jwks.json`), /loopback, private or link-local/);
    assert.deepEqual(asked, ['keys.rebind.example'], 'the name was resolved by the connection itself');
    // One public and one private answer is still refused: the connection could take either.
    const mixed: Resolver = (_h, _o, callback) => callback(null, [{ address: '93.184.215.14', family: 4 }, { address: '169.254.169.254', family: 4 }]);
    await expectUnavailable(cacheWith({ allowInsecure: false, resolve: mixed }).get(`https://metadata.rebind.example:${counter.port}/`), /loopback, private or link-local/);
    assert.equal(counter.connections(), 0, 'no connection was made');
  });

  it('AS-11 refuses localhost resolved by the system resolver, and loopback or private IP literals, without a connection', async () => {
    const jwks = cacheWith({ allowInsecure: false });
    for (const uri of [`https://localhost:${counter.port}/jwks.json`, `https://127.0.0.1:${counter.port}/jwks.json`, `https://[::ffff:127.0.0.1]:${counter.port}/`]) {
      await expectUnavailable(jwks.get(uri), /loopback, private or link-local/);
    }
    await expectUnavailable(jwks.get(`http://keys.example:${counter.port}/jwks.json`), /https/);
    assert.equal(counter.connections(), 0, 'no connection was made');
  });

  it('connects to the same listener when ALLOW_INSECURE_JWKS_URI is true (the refusals above are not a dead port)', async () => {
    const jwks = cacheWith({ allowInsecure: true });
    await expectUnavailable(jwks.get(`http://localhost:${counter.port}/jwks.json`), /could not be fetched|cut short/);
    assert.ok(counter.connections() >= 1);
  });

  it('classifies addresses: loopback, private, CGNAT, link-local, mapped and NAT64 forms are non-public', () => {
    for (const a of ['127.0.0.1', '10.0.0.1', '172.16.0.1', '192.168.1.1', '100.64.0.1', '169.254.169.254', '0.0.0.0', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:10.0.0.1', '64:ff9b::a9fe:a9fe']) {
      assert.equal(isNonPublicAddress(a), true, a);
    }
    for (const a of ['93.184.215.14', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808']) assert.equal(isNonPublicAddress(a), false, a);
    assert.equal(isNonPublicHost('LOCALHOST'), true);
    assert.equal(isNonPublicHost('keys.localhost'), true);
    assert.equal(isNonPublicHost('[::1]'), true);
    assert.equal(isNonPublicHost('keys.example'), false);
  });
});

describe('jwks_uri fetch: the body is cut off at the size limit', () => {
  let server: http.Server;
  let base: string;
  let endlessClosed: Promise<number>;

  before(async () => {
    let markClosed: (bytes: number) => void;
    endlessClosed = new Promise((resolve) => { markClosed = resolve; });
    server = http.createServer((req, res) => {
      if (req.url === '/declared') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(MAX_BYTES * 4) });
        res.end('{"keys":[]}');
        return;
      }
      // A body that never ends (chunked, no length): only a reader that stops at maxBytes returns.
      res.writeHead(200, { 'content-type': 'application/json' });
      let sent = 0;
      const chunk = Buffer.alloc(16_384, 0x20);
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) sent += chunk.length;
        if (!res.destroyed) sent += chunk.length;
      };
      res.on('drain', pump);
      res.on('close', () => markClosed(sent));
      res.write('{"keys":[');
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));

  it('AS-12 drops the connection once an endless body passes maxBytes, instead of reading it all', async () => {
    await expectUnavailable(cacheWith({ allowInsecure: true }).get(`${base}/endless`), /too large/);
    const sent = await endlessClosed;
    assert.ok(sent > MAX_BYTES, 'the server did send more than the limit');
  });

  it('AS-12 refuses a declared Content-Length above maxBytes without reading the body', async () => {
    await expectUnavailable(cacheWith({ allowInsecure: true }).get(`${base}/declared`), /too large/);
  });
});

describe('jwks_uri fetch: forKid refetches for an unknown kid at most once per cool-down', () => {
  let server: http.Server;
  let uri: string;
  let fetches = 0;
  let kids = ['k1'];

  before(async () => {
    server = http.createServer((_req, res) => {
      fetches += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: kids.map((kid) => ({ kty: 'EC', crv: 'P-256', kid, x: 'AA', y: 'AA' })) }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('serves a known kid (or none) from the cache, refetches once for an unknown one, and again only after the cool-down', async () => {
    let clock = 1_000_000;
    const jwks = createRemoteJwksCache({ timeoutMs: 10_000, ttlMs: 300_000, cooldownMs: 30_000, maxBytes: MAX_BYTES, allowInsecure: true, now: () => clock });
    const kidsOf = (set: { keys: Array<{ kid?: string }> }) => set.keys.map((k) => k.kid);
    assert.deepEqual(kidsOf(await jwks.forKid(uri, 'k1')), ['k1']);
    assert.deepEqual(kidsOf(await jwks.forKid(uri, undefined)), ['k1']);
    assert.equal(fetches, 1);
    kids = ['k1', 'k2'];
    assert.deepEqual(kidsOf(await jwks.forKid(uri, 'k2')), ['k1'], 'within the cool-down of the first fetch: the cached set');
    assert.equal(fetches, 1);
    clock += 30_000;
    assert.deepEqual(kidsOf(await jwks.forKid(uri, 'k2')), ['k1', 'k2'], 'after it: a fresh copy');
    assert.equal(fetches, 2);
    await Promise.all(Array.from({ length: 10 }, (_, i) => jwks.forKid(uri, `random-${i}`)));
    assert.equal(fetches, 2, 'random kids within the cool-down fetch nothing');
    clock += 30_000;
    await Promise.all(Array.from({ length: 10 }, (_, i) => jwks.forKid(uri, `random-${i}`)));
    assert.equal(fetches, 3, 'concurrent unknown kids share one fetch');
  });
});
