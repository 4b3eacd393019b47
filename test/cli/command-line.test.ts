import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { createSigningKey } from '../helpers/assertion.ts';
import { ensureCliBuilt, jsonOf, runCli, type CliRun } from '../helpers/cli.ts';
import { freePort } from '../helpers/free-port.ts';
import { rawSql } from '../helpers/raw-sql.ts';
import { BOOTSTRAP_SECRET, startTestService, type TestService } from '../helpers/start-app.ts';

/** One line on stderr, nothing on stdout: how every failure looks. */
function assertOneLineFailure(run: CliRun, code: number, pattern: RegExp): void {
  assert.equal(run.code, code, `exit code (stderr: ${run.stderr})`);
  assert.equal(run.stdout, '');
  assert.equal(run.stderr.trimEnd().split('\n').length, 1, `one line: ${run.stderr}`);
  assert.match(run.stderr.trimEnd(), pattern);
}

describe('identity-backend command line against a running service (admin API)', () => {
  let t: TestService;
  let admin: Record<string, string>;

  before(async () => {
    await ensureCliBuilt();
    t = await startTestService();
    admin = { IDENTITY_URL: t.url, IDENTITY_ADMIN_SECRET: BOOTSTRAP_SECRET };
  });
  after(() => t?.stop());

  const cli = (args: string[], vars: Record<string, string> = {}) => runCli(args, { ...admin, ...vars });

  it('clients create prints the new secret alone on stdout, and that secret gets a token', async () => {
    const run = await cli(['clients', 'create', 'cli-orders', '--scope', 'orders:read', '--scope', 'orders:write', '--audience', 'https://orders.internal']);
    assert.equal(run.code, 0, run.stderr);
    const secret = run.stdout.trim();
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(run.stdout, `${secret}\n`);
    assert.match(run.stderr, /client "cli-orders" registered \(client_secret_basic\); its secret, shown only this once/);
    const token = decodeJwt(await t.tokenFor('cli-orders', secret));
    assert.equal(token.scope, 'orders:read orders:write');
    assert.equal(token.aud, 'https://orders.internal');
    const created = await t.auditEvents({ type: 'client.created', clientId: 'cli-orders' });
    assert.equal(created.length, 1);
  });

  it('clients create --json answers the registration response; a client without a secret prints the client itself', async () => {
    const json = jsonOf(await cli(['--json', 'clients', 'create', 'cli-json', '--audience', 'https://orders.internal', '--ttl', '5m']));
    assert.equal(json.client_id, 'cli-json');
    assert.equal(json.client_name, 'cli-json');
    assert.equal(json.access_token_ttl, 300);
    assert.match(String(json.client_secret), /^[A-Za-z0-9_-]{43}$/);
    const jwksFile = path.join(t.keysDir, 'client-jwks.json');
    const { publicJwk } = await createSigningKey('ES256');
    writeFileSync(jwksFile, JSON.stringify({ keys: [publicJwk] }));
    const run = await cli(['clients', 'create', 'cli-keyed', '--auth-method', 'private_key_jwt', '--jwks-file', jwksFile, '--audience', 'https://orders.internal']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^client_id +cli-keyed$/m);
    assert.match(run.stdout, /^token_endpoint_auth_method +private_key_jwt$/m);
    assert.doesNotMatch(run.stdout, /client_secret/);
  });

  it('issuers create, list, update --disable and delete manage trusted issuers; bad input is one line and exit code 1', async () => {
    const { publicJwk } = await createSigningKey('ES256');
    const jwksFile = path.join(t.keysDir, 'issuer-jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [publicJwk] }));
    const created = jsonOf<{ id: string; issuer: string; audiences: string[]; disabled: boolean }>(await cli([
      '--json', 'issuers', 'create', 'https://idp.example.com', '--jwks-file', jwksFile, '--audience', 'https://a.internal', '--alg', 'ES256',
    ]));
    assert.equal(created.issuer, 'https://idp.example.com');
    assert.deepEqual(created.audiences, ['https://a.internal']);
    const listed = await cli(['issuers', 'list']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`^${created.id} +https://idp\\.example\\.com`, 'm'));
    const disabled = jsonOf<{ disabled: boolean }>(await cli(['--json', 'issuers', 'update', created.id, '--disable']));
    assert.equal(disabled.disabled, true);
    const [audited] = await t.auditEvents({ type: 'issuer.updated' });
    assert.ok(audited, 'the change is audited');
    assertOneLineFailure(await cli(['issuers', 'create', 'http://insecure.example.com', '--jwks-file', jwksFile, '--audience', 'x']), 1, /issuer/);
    const deleted = await cli(['issuers', 'delete', created.id]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assertOneLineFailure(await cli(['issuers', 'show', created.id]), 5, /./);
  });

  it('clients list and show print what the admin API holds (--json exactly its bodies)', async () => {
    const bearer = `Bearer ${await t.adminToken()}`;
    const shown = jsonOf(await cli(['--json', 'clients', 'show', 'cli-orders']));
    assert.deepEqual(shown, (await t.agent.get('/admin/clients/cli-orders').set('authorization', bearer)).body);
    const listed = jsonOf<{ items: Array<{ client_id: string }>; next_cursor: string | null }>(await cli(['clients', 'list', '--all', '--limit', '1', '--json']));
    assert.deepEqual(listed.items.map((c) => c.client_id).sort(), ['admin', 'cli-json', 'cli-keyed', 'cli-orders']);
    assert.equal(listed.next_cursor, null);
    const text = await cli(['clients', 'list']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^CLIENT_ID +AUTH_METHOD +STATUS +SCOPE +AUDIENCE$/m);
    assert.match(text.stdout, /^cli-orders +client_secret_basic +enabled +orders:read orders:write +https:\/\/orders\.internal$/m);
  });

  it('clients update changes only the fields given; disable refuses its token requests and enable accepts them again', async () => {
    const { clientId, secret } = await t.registerClient({ client_name: 'to change' });
    const updated = jsonOf(await cli(['--json', 'clients', 'update', clientId, '--name', 'changed', '--scope', 'orders:read']));
    assert.equal(updated.client_name, 'changed');
    assert.equal(updated.scope, 'orders:read');
    assert.deepEqual(updated.audience, ['https://orders.internal']);
    const disabled = await cli(['clients', 'disable', clientId]);
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.equal(disabled.stdout, `client "${clientId}" disabled\n`);
    await assert.rejects(t.tokenFor(clientId, secret), /401/);
    assert.equal((await cli(['clients', 'enable', clientId])).code, 0);
    await t.tokenFor(clientId, secret);
    assertOneLineFailure(await cli(['clients', 'update', clientId]), 2, /^identity-backend: clients update: nothing to change/);
  });

  it('clients create and update set a client\'s own token quotas; default goes back to the deployment\'s, a bad value is a usage error', async () => {
    const created = jsonOf(await cli(['--json', 'clients', 'create', 'cli-quota', '--audience', 'https://orders.internal', '--quota-per-hour', '0', '--quota-per-day', '500']));
    assert.deepEqual([created.token_quota_per_hour, created.token_quota_per_day], [0, 500]);
    const updated = jsonOf(await cli(['--json', 'clients', 'update', 'cli-quota', '--quota-per-day', 'default']));
    assert.deepEqual([updated.token_quota_per_hour, updated.token_quota_per_day], [0, null]);
    assertOneLineFailure(await cli(['clients', 'update', 'cli-quota', '--quota-per-hour', '-3']), 2, /^identity-backend: .*--quota-per-hour: expected a whole number of tokens from 0/);
  });

  it('clients rotate-secret prints the new secret alone; without --grace the old one stops, with --grace it keeps working', async () => {
    const { clientId, secret: first } = await t.registerClient();
    const rotated = await cli(['clients', 'rotate-secret', clientId]);
    assert.equal(rotated.code, 0, rotated.stderr);
    const second = rotated.stdout.trim();
    assert.match(rotated.stderr, /the previous one has stopped working/);
    await t.tokenFor(clientId, second);
    await assert.rejects(t.tokenFor(clientId, first), /401/);
    const graced = jsonOf(await cli(['--json', 'clients', 'rotate-secret', clientId, '--grace', '1h']));
    assert.ok(Date.parse(String(graced.previous_secret_expires_at)) > Date.now());
    await t.tokenFor(clientId, second);
    await t.tokenFor(clientId, String(graced.client_secret));
  });

  it('clients delete removes the client; then show exits 5 with one line (a JSON object with --json)', async () => {
    const { clientId } = await t.registerClient();
    const deleted = await cli(['clients', 'delete', clientId]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assertOneLineFailure(await cli(['clients', 'show', clientId]), 5, new RegExp(`^identity-backend: no client "${clientId}" \\(HTTP 404\\)$`));
    const json = await cli(['--json', 'clients', 'show', clientId]);
    assert.equal(json.code, 5);
    assert.deepEqual(JSON.parse(json.stderr), { error: `no client "${clientId}" (HTTP 404)`, exit_code: 5, status: 404, type: '/problems/not-found' });
  });

  it('refused registrations exit 1 naming the field; a duplicate id exits 1', async () => {
    assertOneLineFailure(await cli(['clients', 'create', 'cli-bad', '--audience', 'not-a-uri']), 1, /audience\.0: must be an absolute URI without a fragment \(HTTP 400\)/);
    assertOneLineFailure(await cli(['clients', 'create', 'cli-orders', '--audience', 'https://orders.internal']), 1, /\(HTTP 409\)$/);
  });

  it('keys list / rotate / revoke go through the admin API and print the key set (--json as GET /admin/keys)', async () => {
    const bearer = `Bearer ${await t.adminToken()}`;
    const listed = jsonOf(await cli(['keys', 'list', '--json']));
    assert.deepEqual(listed, (await t.agent.get('/admin/keys').set('authorization', bearer)).body);
    const text = await cli(['keys', 'list']);
    const items = (listed.items as Array<{ kid: string; state: string }>);
    for (const k of items) assert.match(text.stdout, new RegExp(`^${k.kid}  RS256  ${k.state} +created \\d{4}-`, 'm'));
    assert.doesNotMatch(text.stdout, /"kty"|PRIVATE/);
    // The next key is younger than KEY_PREPUBLISH (1 day): the service refuses, and says why.
    assertOneLineFailure(await cli(['keys', 'rotate']), 1, /KEY_PREPUBLISH.*\(HTTP 409\)$/);
    assertOneLineFailure(await cli(['keys', 'revoke', 'no-such-kid']), 5, /no signing key "no-such-kid" \(HTTP 404\)$/);
    const next = items.find((k) => k.state === 'next')!;
    const revoked = jsonOf<{ items: Array<{ kid: string; state: string }> }>(await cli(['--json', 'keys', 'revoke', next.kid]));
    assert.equal(revoked.items.find((k) => k.kid === next.kid)?.state, 'revoked');
    assert.deepEqual((await t.auditEvents({ type: 'key.revoked' })).map((e) => e.kid), [next.kid]);
  });

  it('token gets a token for a client, checks it against the JWKS and prints its claims; --print-token prints only the token', async () => {
    const { clientId, secret } = await t.registerClient({ scope: 'orders:read orders:write' });
    const text = await cli(['token', '--client-id', clientId, '--scope', 'orders:read'], { IDENTITY_CLIENT_SECRET: secret });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^verified +signature and typ checked against .*\/\.well-known\/jwks\.json$/m);
    assert.match(text.stdout, new RegExp(`"sub": "${clientId}"`));
    assert.ok(!text.stdout.includes(secret) && !text.stderr.includes(secret), 'the secret is never printed');
    const json = jsonOf<{ claims: Record<string, unknown>; header: Record<string, unknown>; access_token: string; token_type: string }>(
      await cli(['--json', 'token', '--client-id', clientId, '--audience', 'https://orders.internal'], { IDENTITY_CLIENT_SECRET: secret }));
    assert.equal(json.token_type, 'Bearer');
    assert.equal(json.header.typ, 'at+jwt');
    assert.deepEqual(json.claims, decodeJwt(json.access_token));
    assert.equal(json.claims.aud, 'https://orders.internal');
    assert.equal(json.claims.scope, 'orders:read orders:write');
    const post = await t.registerClient({ token_endpoint_auth_method: 'client_secret_post' });
    const printed = await cli(['token', '--client-id', post.clientId, '--print-token', '--secret-post'], { IDENTITY_CLIENT_SECRET: post.secret });
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(printed.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    assert.equal(decodeJwt(printed.stdout.trim()).client_id, post.clientId);
  });

  it('an admin token from `token --print-token` (the admin client by default) works as IDENTITY_ADMIN_TOKEN', async () => {
    const printed = await cli(['token', '--print-token']);
    assert.equal(printed.code, 0, printed.stderr);
    const token = printed.stdout.trim();
    assert.equal(decodeJwt(token).aud, `${t.config.issuer}/admin`);
    const listed = await runCli(['--json', 'keys', 'list'], { IDENTITY_URL: t.url, IDENTITY_ADMIN_TOKEN: token });
    assert.equal(listed.code, 0, listed.stderr);
    assertOneLineFailure(await runCli(['keys', 'list'], { IDENTITY_URL: t.url, IDENTITY_ADMIN_TOKEN: `${token}x` }), 4, /\(HTTP 401\)$/);
  });

  it('reads the admin secret from --admin-secret-file (as KEYS_DIR/bootstrap-admin-secret holds it)', async () => {
    const file = path.join(t.keysDir, 'admin-secret-copy');
    writeFileSync(file, `${BOOTSTRAP_SECRET}\n`, { mode: 0o600 });
    const run = await runCli(['clients', 'show', 'admin', '--json'], { IDENTITY_URL: t.url, IDENTITY_ADMIN_SECRET_FILE: file });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(jsonOf(run).client_id, 'admin');
  });

  it('audit search filters by client, type and outcome and follows pages with --all', async () => {
    const { clientId, secret } = await t.registerClient();
    for (let i = 0; i < 3; i++) await t.tokenFor(clientId, secret);
    await assert.rejects(t.tokenFor(clientId, 'wrong'), /401/);
    const issued = jsonOf<{ items: Array<Record<string, unknown>>; next_cursor: string | null }>(
      await cli(['--json', 'audit', 'search', '--client-id', clientId, '--type', 'token.issued', '--limit', '2', '--all']));
    assert.equal(issued.items.length, 3);
    assert.ok(issued.items.every((e) => e.client_id === clientId && e.type === 'token.issued' && e.outcome === 'success'));
    assert.equal(issued.next_cursor, null);
    const page = await cli(['audit', 'search', '--client-id', clientId, '--limit', '1']);
    assert.equal(page.code, 0, page.stderr);
    assert.match(page.stdout, /^TIME +TYPE +OUTCOME +CLIENT_ID +REASON +REQUEST_ID$/m);
    assert.match(page.stderr, /^more events: --cursor \S+$/m);
    const denied = await cli(['audit', 'search', '--client-id', clientId, '--outcome', 'failure']);
    assert.match(denied.stdout, new RegExp(`token\\.denied +failure +${clientId} +\\S+`));
    assertOneLineFailure(await cli(['audit', 'search', '--since', 'yesterday']), 1, /since: must be an ISO 8601 date or date-time \(HTTP 400\)$/);
  });

  it('audit verify against the real service: exit 0 while the chain is intact, 1 and the event named once a row is edited', async () => {
    const { clientId, secret } = await t.registerClient();
    await t.tokenFor(clientId, secret);
    const intact = jsonOf<{ intact: boolean; events_checked: number; first_mismatch: unknown }>(await cli(['--json', 'audit', 'verify']));
    assert.equal(intact.intact, true);
    assert.ok(intact.events_checked > 0);
    assert.equal(intact.first_mismatch, null);
    const [issued] = await t.auditEvents({ type: 'token.issued', clientId });
    await rawSql(t.database, 'UPDATE "AuditEvent" SET "scope" = ? WHERE "id" = ?', ['orders:admin', issued!.id]);
    try {
      const run = await cli(['--json', 'audit', 'verify']);
      assert.equal(run.code, 1, run.stderr);
      const broken = jsonOf<{ intact: boolean; first_mismatch: { event_id: string } }>(run);
      assert.equal(broken.intact, false);
      assert.equal(broken.first_mismatch.event_id, issued!.id);
    } finally {
      await rawSql(t.database, 'UPDATE "AuditEvent" SET "scope" = ? WHERE "id" = ?', [issued!.scope, issued!.id]);
    }
  });

  it('an admin client without the scope a command needs exits 4 (403), and the refusal is audited', async () => {
    const before = (await t.auditEvents({ type: 'admin.denied' })).length;
    const limited = jsonOf(await cli(['--json', 'clients', 'create', 'cli-limited', '--scope', 'admin:clients', '--audience', `${t.config.issuer}/admin`]));
    const run = await runCli(['keys', 'list'], { IDENTITY_URL: t.url, IDENTITY_ADMIN_CLIENT_ID: 'cli-limited', IDENTITY_ADMIN_SECRET: String(limited.client_secret) });
    assertOneLineFailure(run, 4, /\(HTTP 403\)$/);
    const denied = await t.auditEvents({ type: 'admin.denied' });
    assert.equal(denied.length, before + 1);
    assert.deepEqual([denied[0]!.reason, denied[0]!.details], ['insufficient_scope', { method: 'GET', path: '/admin/keys' }]);
  });

  it('wrong admin or client secrets exit 4 with one line that names the client and never the secret', async () => {
    const wrong = 'not-the-secret-0123456789abcdefghijklmnop';
    const adminRun = await runCli(['clients', 'list'], { IDENTITY_URL: t.url, IDENTITY_ADMIN_SECRET: wrong });
    assertOneLineFailure(adminRun, 4, /^identity-backend: the token endpoint refused client "admin" \(invalid_client: /);
    assert.ok(!adminRun.stderr.includes(wrong));
    const tokenRun = await runCli(['--json', 'token', '--client-id', 'cli-orders', '--client-secret', wrong], { IDENTITY_URL: t.url });
    assert.equal(tokenRun.code, 4);
    assert.equal(JSON.parse(tokenRun.stderr).oauth_error, 'invalid_client');
    assert.ok(!tokenRun.stderr.includes(wrong) && tokenRun.stdout === '');
  });

  it('usage errors exit 2 before any request: unknown command or option, missing argument, bad value, no credentials', async () => {
    // A closed port: a command that tried the network would exit 3, not 2.
    const closed = { IDENTITY_URL: `http://127.0.0.1:${await freePort()}`, IDENTITY_ADMIN_SECRET: 'x' };
    assertOneLineFailure(await runCli(['nope'], closed), 2, /^identity-backend: unknown command 'nope' \(see identity-backend --help\)$/);
    assertOneLineFailure(await runCli(['clients', 'lst'], closed), 2, /unknown command 'lst'.*Did you mean list\?/);
    assertOneLineFailure(await runCli(['clients', 'list', '--bogus'], closed), 2, /unknown option '--bogus'/);
    assertOneLineFailure(await runCli(['clients', 'show'], closed), 2, /missing required argument 'client_id'/);
    assertOneLineFailure(await runCli(['clients', 'list', '--limit', 'ten'], closed), 2, /^identity-backend: --limit: expected a whole number/);
    assertOneLineFailure(await runCli(['clients', 'rotate-secret', 'x', '--grace', 'soon'], closed), 2, /--grace: expected a duration/);
    assertOneLineFailure(await runCli(['clients', 'list'], { IDENTITY_URL: closed.IDENTITY_URL }), 2, /no admin credentials: set IDENTITY_ADMIN_SECRET/);
    assertOneLineFailure(await runCli(['clients', 'list', '--url', 'ftp://x'], closed), 2, /--url: must be an http/);
    const json = await runCli(['--json', 'keys', 'revoke'], closed);
    assert.equal(json.code, 2);
    assert.deepEqual(JSON.parse(json.stderr), { error: "missing required argument 'kid' (see identity-backend --help)", exit_code: 2 });
    // A group without its command shows that group's help, as a usage error.
    const group = await runCli(['audit'], closed);
    assert.equal(group.code, 2);
    assert.match(group.stderr, /Usage: identity-backend audit/);
    const help = await runCli(['--help'], closed);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Exit codes:\n {2}0 {2}done/);
  });

  it('a service that cannot be reached exits 3 with one line naming the URL', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    assertOneLineFailure(await runCli(['clients', 'list'], { IDENTITY_URL: url, IDENTITY_ADMIN_SECRET: 'x' }), 3, new RegExp(`^identity-backend: cannot reach ${url}: ECONNREFUSED$`));
    assertOneLineFailure(await runCli(['token', '--client-id', 'a', '--client-secret', 'b', '--url', url]), 3, /cannot reach/);
  });
});
