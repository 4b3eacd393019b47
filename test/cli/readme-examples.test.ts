// The README's shell examples, run as a reader would paste them: in bash, from the checkout,
// against the service started as `npm start` starts it (src/main.ts, which writes the bootstrap
// admin secret to KEYS_DIR). Three things differ from the reader's machine, by substitution: the
// service's address (a free port, not :8080), where KEYS_DIR is (a temporary folder, not ./keys),
// and `npx identity-backend` runs the bin it resolves to directly (npm's own start-up costs about a
// second a call; that npx finds the bin is checked once).
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { CLI_BIN, ensureCliBuilt } from '../helpers/cli.ts';
import { freePort } from '../helpers/free-port.ts';
import { childEnv, killAll, LISTENING, PROJECT_ROOT, spawnService, type ServiceProcess } from '../helpers/service-process.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

const MARKER = '<!-- README example, run by test/cli/readme-examples.test.ts -->';

/** The ```sh blocks right after each marker, in README order. */
function markedBlocks(readme: string): string[] {
  return readme.split(MARKER).slice(1).map((rest) => {
    const match = /^\s*```sh\n([\s\S]*?)\n```/.exec(rest);
    assert.ok(match, 'a marker is followed by a ```sh block');
    return match[1]!;
  });
}

/** The block's commands (continuation lines joined) up to and including the one starting with `prefix`. */
function commandsThrough(block: string, prefix: string): string {
  const commands = block.replace(/\\\n/g, ' ').split('\n');
  const last = commands.findIndex((c) => c.startsWith(prefix));
  assert.ok(last >= 0, `a command starting with ${prefix}`);
  return commands.slice(0, last + 1).join('\n');
}

const hasTool = (tool: string) => {
  try {
    execFileSync('bash', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

describe('the README examples work by copy-paste', { skip: !hasTool('bash') || !hasTool('curl') ? 'needs bash and curl' : false }, () => {
  const blocks = markedBlocks(readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8'));
  let db: TestDatabase;
  let keysDir: string;
  let service: ServiceProcess;
  let url: string;

  before(async () => {
    await ensureCliBuilt();
    db = await createTestDatabase();
    keysDir = mkdtempSync(path.join(tmpdir(), 'idb-readme-'));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    // No BOOTSTRAP_ADMIN_CLIENT_SECRET: the service generates one and writes KEYS_DIR/bootstrap-admin-secret.
    service = spawnService({ PORT: String(port), HOST: '127.0.0.1', ISSUER: url, DATABASE_URL: db.url, KEYS_DIR: keysDir, LOG_LEVEL: 'info' });
    await service.waitForStdout(LISTENING);
    await service.waitForStderr(/Bootstrap admin client "admin" created/);
  });
  after(async () => {
    await killAll();
    await db?.drop();
    if (keysDir) rmSync(keysDir, { recursive: true, force: true });
  });

  /** One block in a fresh bash, stopping at the first failing command. */
  function runBlock(block: string): Promise<{ code: number; stdout: string; stderr: string }> {
    const script = block.replaceAll('http://localhost:8080', url)
      .replaceAll('keys/bootstrap-admin-secret', path.join(keysDir, 'bootstrap-admin-secret'))
      .replaceAll('npx identity-backend', `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI_BIN)}`);
    const env = childEnv({});
    for (const name of Object.keys(env)) if (name.startsWith('IDENTITY_')) delete env[name];
    return new Promise((resolve) => {
      execFile('bash', ['-c', `set -euo pipefail\n${script}`], { cwd: PROJECT_ROOT, env, timeout: 120_000 }, (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
      });
    });
  }

  it('marks four blocks: the first token with curl, the command line (whose `npx identity-backend` is bin/identity-backend.js), the token-exchange hops and their exchange', () => {
    assert.equal(blocks.length, 4);
    assert.match(blocks[2]!, /^register\(\)/);
    assert.match(blocks[3]!, /B_TOKEN=\$\(/);
    assert.match(blocks[0]!, /ADMIN_SECRET=\$\(/);
    assert.match(blocks[1]!, /npx identity-backend/);
    const pkg = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    assert.equal(path.resolve(PROJECT_ROOT, pkg.bin['identity-backend']!), CLI_BIN);
    const help = execFileSync('npx', ['--no-install', 'identity-backend', '--help'], { cwd: PROJECT_ROOT, encoding: 'utf8', env: childEnv({}) });
    assert.match(help, /^Usage: identity-backend /);
  });

  it('first start: every variable is set by the command before it, and the last command prints a token for the audience', async () => {
    const run = await runBlock(blocks[0]!);
    assert.equal(run.code, 0, run.stderr);
    const answer = JSON.parse(run.stdout) as { access_token: string; token_type: string };
    assert.equal(answer.token_type, 'Bearer');
    const claims = decodeJwt(answer.access_token);
    assert.deepEqual([claims.iss, claims.sub, claims.aud, claims.scope], [url, 'orders', 'https://orders.internal', 'orders:read']);
  });

  it('token exchange: with the admin token of the first start, registers the hops and trades the token along A → C → B', async () => {
    const run = await runBlock(`${commandsThrough(blocks[0]!, 'ADMIN_TOKEN=')}\n${blocks[2]}\n${blocks[3]}`);
    assert.equal(run.code, 0, run.stderr);
    // node -e prints the claims of B's token with util.inspect.
    assert.match(run.stdout, /sub: 'web'/);
    assert.match(run.stdout, /client_id: 'svc-c'/);
    assert.match(run.stdout, /aud: 'https:\/\/b\.internal'/);
    assert.match(run.stdout, /scope: 'orders:read'/);
    assert.match(run.stdout, /act: \{ sub: 'svc-c', act: \{ sub: 'svc-a' \} \}/);
  });

  it('command line: registers billing, lists it, gets and prints its token, finds the issuance in the audit log, lists the keys', async () => {
    const run = await runBlock(blocks[1]!);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^billing +client_secret_basic +enabled +billing:read +https:\/\/billing\.internal$/m);
    assert.match(run.stdout, /"aud": "https:\/\/billing\.internal"/);
    assert.match(run.stdout, /token\.issued +success +billing /);
    const keys = JSON.parse(run.stdout.slice(run.stdout.lastIndexOf('{\n  "items"'))) as { items: Array<{ state: string }> };
    assert.deepEqual(keys.items.map((k) => k.state).sort(), ['active', 'next']);
    // The secret went into the variable, never to the terminal.
    assert.doesNotMatch(run.stdout, /^[A-Za-z0-9_-]{43}$/m);
  });
});
