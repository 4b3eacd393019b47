import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestService, type TestService } from '../../helpers/start-app.ts';

/** Sends raw bytes on a fresh connection and returns what came back before the server closed it. */
function raw(t: TestService, text: string): Promise<string> {
  const { hostname, port } = new URL(t.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(text));
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer within 5 s')));
    let out = '';
    socket.on('data', (d: Buffer) => (out += d.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve(out));
  });
}

describe('POST /token body reading', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t.stop());

  it('answers a declared Content-Length over the limit with 413 before any body byte is sent, and closes the connection', async () => {
    const out = await raw(t, 'POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 107374182400\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 413 /);
    assert.match(out, /\r\nconnection: close\r\n/i);
    assert.match(out, /"error":"invalid_request"/);
  });

  it('cuts a chunked body at the limit with 413', async () => {
    const chunk = 'a'.repeat(16 * 1024);
    const body = Array.from({ length: 6 }, () => `${(chunk.length).toString(16)}\r\n${chunk}\r\n`).join('');
    const out = await raw(t, `POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n${body}0\r\n\r\n`);
    assert.match(out, /^HTTP\/1\.1 413 /);
  });

  it('refuses a compressed body with 400 invalid_request, audited', async () => {
    const res = await t.agent.post('/token').set('content-encoding', 'gzip').type('form').send('grant_type=client_credentials');
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_request');
    const [denied] = (await t.auditEvents({ type: 'token.denied' })).filter((e) => e.requestId === res.headers['x-request-id']);
    assert.equal(denied?.reason, 'unsupported_content_type');
  });
});
