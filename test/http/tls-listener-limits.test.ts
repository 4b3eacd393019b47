import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { freePort } from '../helpers/free-port.ts';
import { createPki, type Pki } from '../helpers/pki.ts';
import { startTestService, type TestService } from '../helpers/start-app.ts';

/**
 * The TLS listener's own limits (ASVS 2.4.1, IN-07): a handshake that never happens is ended by
 * TLS_HANDSHAKE_TIMEOUT, and connections beyond MAX_CONNECTIONS are closed at once.
 */

let pki: Pki;

async function startTlsService(env: Record<string, string>): Promise<TestService & { port: number }> {
  const port = await freePort();
  const t = await startTestService({
    PORT: String(port),
    ISSUER: `https://127.0.0.1:${port}`,
    TLS_CERT_FILE: pki.server.certFile,
    TLS_KEY_FILE: pki.server.keyFile,
    ...env,
  });
  return Object.assign(t, { port });
}

/** A completed TLS handshake with the listener. */
async function handshake(port: number): Promise<tls.TLSSocket> {
  const socket = tls.connect({ host: '127.0.0.1', port, ca: pki.ca1.certPem, servername: 'localhost' });
  await once(socket, 'secureConnect');
  return socket;
}

describe('TLS listener limits', () => {
  before(() => {
    pki = createPki();
  });
  after(() => pki.cleanup());

  describe('TLS_HANDSHAKE_TIMEOUT=1', () => {
    let t: TestService & { port: number };
    before(async () => {
      t = await startTlsService({ TLS_HANDSHAKE_TIMEOUT: '1' });
    });
    after(() => t.stop());

    it('IN-07 closes a connection that never starts its TLS handshake, as a handshake timeout', { timeout: 60_000 }, async () => {
      const clientErrors: Array<NodeJS.ErrnoException> = [];
      t.service.server.on('tlsClientError', (error: NodeJS.ErrnoException) => clientErrors.push(error));
      const silent = net.connect(t.port, '127.0.0.1');
      await once(silent, 'connect');
      // Node's own default would hold this socket for 120 s, past this test's timeout.
      await once(silent, 'close');
      assert.ok(clientErrors.some((e) => e.code === 'ERR_TLS_HANDSHAKE_TIMEOUT'), JSON.stringify(clientErrors.map((e) => e.code)));
      // A client that does shake hands is still served.
      const socket = await handshake(t.port);
      socket.destroy();
    });
  });

  describe('MAX_CONNECTIONS=2', () => {
    let t: TestService & { port: number };
    before(async () => {
      t = await startTlsService({ MAX_CONNECTIONS: '2' });
    });
    after(() => t.stop());

    const openConnections = () => new Promise<number>((resolve, reject) => t.service.server.getConnections((e, n) => (e ? reject(e) : resolve(n))));

    it('IN-07 closes a third connection at once while two are open, and accepts one again when a slot frees', { timeout: 30_000 }, async () => {
      const held = [await handshake(t.port), await handshake(t.port)];
      assert.equal(await openConnections(), 2);
      const dropped = once(t.service.server, 'drop');
      const third = tls.connect({ host: '127.0.0.1', port: t.port, ca: pki.ca1.certPem, servername: 'localhost' });
      let secured = false;
      third.on('secureConnect', () => { secured = true; });
      // Reset by the server (ECONNRESET): expected. events.once would reject on that 'error'.
      third.on('error', () => {});
      await new Promise((resolve) => third.on('close', resolve));
      await dropped;
      assert.equal(secured, false, 'the third connection never completed a handshake');

      held[0]!.destroy();
      while (await openConnections() > 1) await new Promise((resolve) => setTimeout(resolve, 20));
      const again = await handshake(t.port);
      again.destroy();
      held[1]!.destroy();
    });
  });
});
