import assert from 'node:assert/strict';
import { after, before, describe, it, mock } from 'node:test';
import { basicCredentials } from '../../../src/oauth/client-auth/client-secret-basic.ts';
import { startTestService, type RegisteredClient, type TestService } from '../../helpers/start-app.ts';

/**
 * The client-authenticated pipeline parses what a request presents once: rate limiting, the
 * lockout, authentication and the audit record all read that one value.
 */
describe('POST /token decodes the Basic credentials once per request', () => {
  let t: TestService;
  let c: RegisteredClient;
  const decode = mock.method(basicCredentials, 'decode');

  before(async () => {
    t = await startTestService({ RATE_LIMIT_AUTH_FAILURES: '2', RATE_LIMIT_TOKEN_PER_CLIENT: '100' });
    c = await t.registerClient({ client_id: 'c-once' });
  });
  after(async () => {
    decode.mock.restore();
    await t.stop();
  });

  async function decodesFor(secret: string, expectedStatus: number): Promise<number> {
    const before = decode.mock.callCount();
    const res = await t.agent.post('/token').auth('c-once', secret).type('form').send({ grant_type: 'client_credentials' });
    assert.equal(res.status, expectedStatus, res.text);
    return decode.mock.callCount() - before;
  }

  it('once for a token issued', async () => {
    assert.equal(await decodesFor(c.secret, 200), 1);
  });

  it('once for a wrong secret (401), and once when the lockout answers 429', async () => {
    assert.equal(await decodesFor('wrong-1', 401), 1);
    assert.equal(await decodesFor('wrong-2', 401), 1);
    assert.equal(await decodesFor('wrong-3', 429), 1);
  });

  it('once for a request refused before authentication (a query string), for its audit record', async () => {
    const before = decode.mock.callCount();
    const res = await t.agent.post('/token?x=1').auth('c-once', c.secret).type('form').send({ grant_type: 'client_credentials' });
    assert.equal(res.status, 400);
    assert.equal(decode.mock.callCount() - before, 1);
    const [denied] = (await t.auditEvents({ type: 'token.denied', clientId: 'c-once' })).filter((e) => e.requestId === res.headers['x-request-id']);
    assert.equal(denied?.reason, 'malformed_request', 'the refusal is audited under the client the header names');
  });
});
