import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Response } from 'supertest';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { startTestService, type RegisteredClient, type TestService } from '../../helpers/start-app.ts';
import { expectBearerTokenResponse } from '../../helpers/token-response.ts';

/** RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E. */
const DESCRIPTION_CHARS = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const GRANT = 'grant_type=client_credentials';
/** Headers that legitimately differ between two otherwise identical answers. */
const PER_REQUEST_HEADERS = new Set(['date', 'x-request-id', 'ratelimit', 'ratelimit-policy']);

/** RFC 6749 §2.3.1 and Appendix B: application/x-www-form-urlencoded, then base64. */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice('v='.length);
}

function basicHeader(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(secret)}`, 'utf8').toString('base64')}`;
}

function form(fields: Record<string, string>): string {
  return new URLSearchParams({ grant_type: 'client_credentials', ...fields }).toString();
}

/** Every header but the per-request ones, as name → value. */
function stableHeaders(res: Response): Record<string, unknown> {
  return Object.fromEntries(Object.entries(res.headers).filter(([name]) => !PER_REQUEST_HEADERS.has(name)).sort());
}

describe('POST /token client authentication with client secrets (group A)', () => {
  let t: TestService;
  let basic: RegisteredClient;
  let post: RegisteredClient;

  before(async () => {
    // The failure lockout is off here: several cases send many wrong secrets for c-basic on
    // purpose, and the lockout has its own suite (rate-limit.test.ts).
    t = await startTestService({ RATE_LIMIT_AUTH_FAILURES: '0' });
    basic = await t.registerClient({ client_id: 'c-basic' });
    post = await t.registerClient({ client_id: 'c-post', token_endpoint_auth_method: 'client_secret_post' });
  });
  after(() => t.stop());

  function withAuthorization(authorization: string | undefined, body = GRANT) {
    const req = t.agent.post('/token').type('form');
    if (authorization !== undefined) req.set('authorization', authorization);
    return req.send(body);
  }

  const withBasic = (clientId: string, secret: string, body = GRANT) => withAuthorization(basicHeader(clientId, secret), body);
  const withBody = (fields: Record<string, string>) => withAuthorization(undefined, form(fields));

  async function eventsOf(res: Response, type: 'token.issued' | 'token.denied') {
    const requestId = res.headers['x-request-id'];
    assert.ok(requestId, 'every response names its request id');
    return (await t.auditEvents({ type })).filter((e) => e.requestId === requestId);
  }

  /**
   * The rejection contract R: status, error, JSON, no-store, a safe description, no token, and
   * exactly one token.denied with its reason. `basic` says whether a Basic challenge must be sent.
   */
  async function expectRejected(
    res: Response,
    expected: { status: 400 | 401; error: string; reason: string; basic: boolean; clientId?: string | null },
  ) {
    assert.equal(res.status, expected.status, res.text);
    assert.match(res.headers['content-type'] ?? '', /^application\/json(;|$)/);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.body.error, expected.error);
    assert.deepEqual(Object.keys(res.body).filter((k) => k !== 'error' && k !== 'error_description'), []);
    if (res.body.error_description !== undefined) assert.match(res.body.error_description, DESCRIPTION_CHARS);
    assert.equal(res.body.access_token, undefined);
    assert.doesNotMatch(res.text, /access_token|eyJ|\bat \S+:\d+|node_modules/);
    if (expected.basic) {
      // RFC 6749 §5.2: a 401 answering Basic credentials carries the matching challenge.
      assert.match(res.headers['www-authenticate'] ?? '', /^Basic realm="[^"]+"/);
    } else {
      assert.equal(res.headers['www-authenticate'], undefined);
    }
    const denied = await eventsOf(res, 'token.denied');
    assert.equal(denied.length, 1, 'exactly one token.denied per refusal');
    assert.equal(denied[0]!.outcome, 'failure');
    assert.equal(denied[0]!.reason, expected.reason);
    if (expected.clientId !== undefined) assert.equal(denied[0]!.clientId ?? null, expected.clientId);
    assert.equal((await eventsOf(res, 'token.issued')).length, 0);
  }

  const invalidClient = (reason: string, basicTried: boolean, clientId?: string) =>
    ({ status: 401, error: 'invalid_client', reason, basic: basicTried, ...(clientId !== undefined && { clientId }) }) as const;
  const invalidRequest = (reason: string, clientId?: string | null) =>
    ({ status: 400, error: 'invalid_request', reason, basic: false, ...(clientId !== undefined && { clientId }) }) as const;

  /** The success contract OK; returns the token's claims. */
  async function expectIssued(res: Response, method: string) {
    const claims = expectBearerTokenResponse(res);
    const issued = await eventsOf(res, 'token.issued');
    assert.equal(issued.length, 1, 'exactly one token.issued per token');
    assert.equal(issued[0]!.authMethod, method);
    assert.equal(issued[0]!.clientId, claims.client_id);
    assert.equal(issued[0]!.jti, claims.jti);
    return claims;
  }

  it('CA-01 issues a token for client_secret_basic credentials and records the method', async () => {
    const res = await withBasic('c-basic', basic.secret);
    const claims = await expectIssued(res, 'client_secret_basic');
    expectMatchesOpenApi(res, 'POST', '/token');
    assert.equal(claims.sub, 'c-basic');
    assert.equal(claims.client_id, 'c-basic');
  });

  it('CA-01 issues a token for client_secret_post credentials in the body', async () => {
    const res = await withBody({ client_id: 'c-post', client_secret: post.secret });
    const claims = await expectIssued(res, 'client_secret_post');
    assert.equal(claims.sub, 'c-post');
    assert.equal(claims.client_id, 'c-post');
  });

  it('CA-02 answers invalid_client with a Basic challenge for a wrong secret sent with Basic', async () => {
    const res = await withBasic('c-basic', `${basic.secret}x`);
    await expectRejected(res, invalidClient('invalid_secret', true, 'c-basic'));
    assert.equal(res.headers['www-authenticate'], `Basic realm="${t.config.issuer}", charset="UTF-8"`);
    expectMatchesOpenApi(res, 'POST', '/token');
  });

  it('CA-02 answers invalid_client without a challenge for a wrong secret sent in the body', async () => {
    const res = await withBody({ client_id: 'c-post', client_secret: `${post.secret}x` });
    await expectRejected(res, invalidClient('invalid_secret', false, 'c-post'));
    expectMatchesOpenApi(res, 'POST', '/token');
  });

  it('CA-03 answers unknown, disabled and deleted clients exactly as a wrong secret', async () => {
    const disabled = await t.registerClient({ client_id: 'c-disabled' });
    const deleted = await t.registerClient({ client_id: 'c-deleted' });
    const admin = `Bearer ${await t.adminToken()}`;
    const patched = await t.agent.patch('/admin/clients/c-disabled').set('authorization', admin).send({ disabled: true });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.disabled, true);
    const removed = await t.agent.delete('/admin/clients/c-deleted').set('authorization', admin);
    assert.equal(removed.status, 204, removed.text);

    const wrongSecret = await withBasic('c-basic', `${basic.secret}x`);
    await expectRejected(wrongSecret, invalidClient('invalid_secret', true, 'c-basic'));
    const answers = [
      { res: await withBasic('nosuch', basic.secret), reason: 'unknown_client', clientId: 'nosuch' },
      { res: await withBasic('c-disabled', disabled.secret), reason: 'client_disabled', clientId: 'c-disabled' },
      { res: await withBasic('c-deleted', deleted.secret), reason: 'unknown_client', clientId: 'c-deleted' },
    ];
    for (const { res, reason, clientId } of answers) {
      await expectRejected(res, invalidClient(reason, true, clientId));
      // Contract §2: no error reveals whether a client id exists; the reason stays in the audit log.
      assert.equal(res.text, wrongSecret.text, `body for ${clientId}`);
      assert.deepEqual(stableHeaders(res), stableHeaders(wrongSecret), `headers for ${clientId}`);
    }

    // The same holds for credentials in the body.
    const wrongBodySecret = await withBody({ client_id: 'c-post', client_secret: `${post.secret}x` });
    await expectRejected(wrongBodySecret, invalidClient('invalid_secret', false, 'c-post'));
    const unknownInBody = await withBody({ client_id: 'nosuch', client_secret: post.secret });
    await expectRejected(unknownInBody, invalidClient('unknown_client', false, 'nosuch'));
    assert.equal(unknownInBody.text, wrongBodySecret.text);
    assert.deepEqual(stableHeaders(unknownInBody), stableHeaders(wrongBodySecret));

    // The refusal was the disabled flag: clearing it restores the client.
    const enabled = await t.agent.patch('/admin/clients/c-disabled').set('authorization', admin).send({ disabled: false });
    assert.equal(enabled.status, 200, enabled.text);
    await expectIssued(await withBasic('c-disabled', disabled.secret), 'client_secret_basic');
  });

  it('CA-04 answers invalid_request without a challenge when no credentials are sent', async () => {
    await expectRejected(await withAuthorization(undefined), invalidRequest('no_client_authentication', null));
    const idOnly = await withBody({ client_id: 'c-basic' });
    await expectRejected(idOnly, invalidRequest('no_client_authentication'));
    expectMatchesOpenApi(idOnly, 'POST', '/token');
    await expectRejected(await withBasic('c-basic', ''), invalidRequest('malformed_credentials'));
  });

  it('CA-05 refuses two authentication methods in one request even when both are valid', async () => {
    const res = await withBasic('c-basic', basic.secret, form({ client_secret: basic.secret }));
    await expectRejected(res, invalidRequest('multiple_auth_methods'));
    const bothValid = await withAuthorization(
      basicHeader('c-basic', basic.secret),
      form({ client_id: 'c-post', client_secret: post.secret }),
    );
    await expectRejected(bothValid, invalidRequest('multiple_auth_methods'));
  });

  it('CA-05 refuses Basic credentials sent together with a client assertion', async () => {
    const assertion = 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJjLWJhc2ljIn0.c2ln';
    const res = await withBasic('c-basic', basic.secret, form({
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }));
    await expectRejected(res, invalidRequest('multiple_auth_methods'));
    const [denied] = await eventsOf(res, 'token.denied');
    assert.ok(!JSON.stringify(denied).includes(assertion), 'the assertion is not audited');
  });

  it('CA-06 refuses a body client_id that differs from the Basic one, with no token for either', async () => {
    const res = await withBasic('c-basic', basic.secret, form({ client_id: 'c-post' }));
    await expectRejected(res, invalidRequest('client_id_mismatch'));
    const issuedFor = async (clientId: string) =>
      (await t.auditEvents({ type: 'token.issued', clientId })).filter((e) => e.requestId === res.headers['x-request-id']);
    assert.deepEqual(await issuedFor('c-basic'), []);
    assert.deepEqual(await issuedFor('c-post'), []);

    // A body client_id equal to the Basic one is allowed (RFC 6749 §2.3.1 does not forbid it).
    await expectIssued(await withBasic('c-basic', basic.secret, form({ client_id: 'c-basic' })), 'client_secret_basic');
  });

  it('CA-07 refuses a client_secret_post client using Basic, with audit reason auth_method_mismatch', async () => {
    const res = await withBasic('c-post', post.secret);
    await expectRejected(res, invalidClient('auth_method_mismatch', true, 'c-post'));
  });

  it('CA-07 refuses a client_secret_basic client sending its secret in the body', async () => {
    const res = await withBody({ client_id: 'c-basic', client_secret: basic.secret });
    await expectRejected(res, invalidClient('auth_method_mismatch', false, 'c-basic'));
    // Indistinguishable from a wrong secret for the caller.
    const wrong = await withBody({ client_id: 'c-basic', client_secret: `${basic.secret}x` });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.text, res.text);
  });

  it('CA-08 decodes form-urlencoded Basic credentials (RFC 6749 Appendix B) and refuses raw ones', async () => {
    const colon = await t.registerClient({ client_id: 'an:identifier' });
    assert.ok(Buffer.from(basicHeader('an:identifier', colon.secret).slice(6), 'base64').toString().startsWith('an%3Aidentifier:'));
    const claims = await expectIssued(await withBasic('an:identifier', colon.secret), 'client_secret_basic');
    assert.equal(claims.client_id, 'an:identifier');

    // Not encoded, the first colon splits: client "an" with secret "identifier:S".
    const raw = `Basic ${Buffer.from(`an:identifier:${colon.secret}`).toString('base64')}`;
    await expectRejected(await withAuthorization(raw), invalidClient('unknown_client', true, 'an'));
  });

  it('CA-08 answers invalid_request without a challenge for malformed Authorization headers', async () => {
    const malformed = [
      'Basic',
      'Basic ',
      `Basic ${Buffer.from('foo').toString('base64')}`, // no colon
      `Basic ${Buffer.from(`c-basic:${basic.secret}`).toString('base64')}!`, // not base64
      'Bearer x',
    ];
    for (const authorization of malformed) {
      const res = await withAuthorization(authorization);
      await expectRejected(res, invalidRequest('malformed_credentials'));
      expectMatchesOpenApi(res, 'POST', '/token');
    }
  });

  it('CA-09 compares secrets exactly: no trimming, case folding or truncation', async () => {
    const s = basic.secret;
    assert.notEqual(s.toUpperCase(), s, 'the secret has lower-case letters to fold');
    for (const variant of [`${s} `, `${s}\n`, ` ${s}`, s.toUpperCase(), s.slice(0, -1), s.slice(0, 20), `${s}${s}`]) {
      await expectRejected(await withBasic('c-basic', variant), invalidClient('invalid_secret', true, 'c-basic'));
    }
    for (const variant of [`${post.secret} `, post.secret.slice(0, -1)]) {
      await expectRejected(await withBody({ client_id: 'c-post', client_secret: variant }), invalidClient('invalid_secret', false, 'c-post'));
    }
  });

  it('CA-09 matches client ids exactly: case and trailing white space make another id', async () => {
    for (const id of ['C-BASIC', 'C-basic', 'c-basic ', ' c-basic', 'c-basic\n', 'c-basi']) {
      await expectRejected(await withBasic(id, basic.secret), invalidClient('unknown_client', true, id));
    }
    await expectRejected(
      await withBody({ client_id: 'C-POST', client_secret: post.secret }),
      invalidClient('unknown_client', false, 'C-POST'),
    );
    // The untouched credentials still work, so the refusals above were about the variation.
    await expectIssued(await withBasic('c-basic', basic.secret), 'client_secret_basic');
  });

  it('CA-10 rotation with grace keeps the old secret until the grace ends, the new one throughout', async () => {
    const rotating = await t.registerClient({ client_id: 'c-rotate-grace' });
    const oldSecret = rotating.secret;
    const rotated = await t.agent
      .post('/admin/clients/c-rotate-grace/secret')
      .set('authorization', `Bearer ${await t.adminToken()}`)
      .send({ grace_seconds: 60 });
    assert.equal(rotated.status, 200, rotated.text);
    assert.equal(rotated.headers['cache-control'], 'no-store');
    const newSecret = rotated.body.client_secret as string;
    assert.match(newSecret, /^[A-Za-z0-9_-]{43,}$/);
    assert.notEqual(newSecret, oldSecret);

    await expectIssued(await withBasic('c-rotate-grace', oldSecret), 'client_secret_basic');
    await expectIssued(await withBasic('c-rotate-grace', newSecret), 'client_secret_basic');

    t.clock.advance(61);
    const expired = await withBasic('c-rotate-grace', oldSecret);
    await expectRejected(expired, invalidClient('secret_expired', true, 'c-rotate-grace'));
    // The caller cannot tell an expired secret from a wrong one.
    const wrong = await withBasic('c-rotate-grace', `${newSecret}x`);
    await expectRejected(wrong, invalidClient('invalid_secret', true, 'c-rotate-grace'));
    assert.equal(expired.text, wrong.text);
    await expectIssued(await withBasic('c-rotate-grace', newSecret), 'client_secret_basic');

    const [event] = await t.auditEvents({ type: 'client.secret_rotated', clientId: 'c-rotate-grace' });
    assert.ok(event, 'the rotation is audited');
    assert.equal(event.outcome, 'success');
    const recorded = JSON.stringify(event);
    const logs = t.logLines.join('\n');
    for (const secret of [oldSecret, newSecret]) {
      assert.ok(!recorded.includes(secret), 'the audit event holds no secret');
      assert.ok(!logs.includes(secret), 'no log line holds a secret');
      assert.ok(!logs.includes(basicHeader('c-rotate-grace', secret).slice(6)), 'no log line holds a Basic value');
    }
  });

  it('CA-10 rotation without grace stops the old secret at once', async () => {
    const rotating = await t.registerClient({ client_id: 'c-rotate-now' });
    await expectIssued(await withBasic('c-rotate-now', rotating.secret), 'client_secret_basic');
    const rotated = await t.agent
      .post('/admin/clients/c-rotate-now/secret')
      .set('authorization', `Bearer ${await t.adminToken()}`)
      .send({});
    assert.equal(rotated.status, 200, rotated.text);
    assert.equal(rotated.body.previous_secret_expires_at, null);
    const newSecret = rotated.body.client_secret as string;

    await expectRejected(await withBasic('c-rotate-now', rotating.secret), invalidClient('invalid_secret', true, 'c-rotate-now'));
    await expectIssued(await withBasic('c-rotate-now', newSecret), 'client_secret_basic');

    const [event] = await t.auditEvents({ type: 'client.secret_rotated', clientId: 'c-rotate-now' });
    assert.ok(event);
    const recorded = JSON.stringify(event);
    assert.ok(!recorded.includes(rotating.secret) && !recorded.includes(newSecret));
    const logs = t.logLines.join('\n');
    assert.ok(!logs.includes(rotating.secret) && !logs.includes(newSecret));
  });

  it('CA-02 CA-10 never writes a client secret to the logs or the audit trail', async () => {
    const logs = t.logLines.join('\n');
    const audit = JSON.stringify(await t.auditEvents());
    for (const secret of [basic.secret, post.secret]) {
      assert.ok(!logs.includes(secret), 'no log line holds a secret');
      assert.ok(!audit.includes(secret), 'no audit event holds a secret');
    }
  });
});
