import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { ResultRow } from '../../bench/report/result-row.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Only against a hang: the smoke run takes seconds, more on a loaded machine. */
const HANG_TIMEOUT_MS = 240_000;

type SmokeRun = { code: number | null; stdout: string; stderr: string };

/** `BENCH_MODE=smoke node --import tsx bench/main.ts` with none of the runner's BENCH_* or database settings. */
function runSmokeBench(resultsDir: string): Promise<SmokeRun> {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('BENCH_') && name !== 'DATABASE_URL' && name !== 'NODE_TEST_CONTEXT') env[name] = value;
  }
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/main.ts'], {
    cwd: PROJECT_ROOT,
    env: { ...env, BENCH_MODE: 'smoke', BENCH_RESULTS_DIR: resultsDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** The table lines whose first cell is `label` (and that name `auth`, when given). */
function tableLines(stdout: string, label: string, auth?: string): string[] {
  return stdout.split('\n').filter((line) => line.startsWith(`| ${label} |`) && (auth === undefined || line.includes(` | ${auth} | `)));
}

describe('npm run bench, smoke mode', { timeout: HANG_TIMEOUT_MS }, () => {
  let resultsDir: string;
  let run: SmokeRun;

  before(async () => {
    resultsDir = mkdtempSync(path.join(tmpdir(), 'idb-bench-smoke-'));
    run = await runSmokeBench(resultsDir);
  });
  after(() => rmSync(resultsDir, { recursive: true, force: true }));

  it('exits 0: every server answered 2xx only and every sampled token verified against its JWKS', () => {
    assert.equal(run.code, 0, `exit code ${run.code}\n${run.stdout}\n${run.stderr}`);
  });

  it('prints one table with a row for each reference and for the service with both client authentications', () => {
    for (const label of ['jose SignJWT, sequential (in-process)', 'jose SignJWT, 32 concurrent (in-process)', 'bare Express 5 + jose (floor)', 'node-oidc-provider (in-memory)']) {
      assert.equal(tableLines(run.stdout, label).length, 1, `no row for ${label}:\n${run.stdout}`);
    }
    for (const auth of ['client_secret_basic', 'private_key_jwt']) {
      const [row] = tableLines(run.stdout, 'identity-backend', auth);
      assert.ok(row, `no identity-backend ${auth} row:\n${run.stdout}`);
      assert.match(row, /\| ok \|$/);
    }
  });

  it('writes the table and the measurements next to it, each HTTP row with verified tokens and no failure', () => {
    assert.equal(readFileSync(path.join(resultsDir, 'latest-smoke.md'), 'utf8').trim(), run.stdout.trim());
    const { rows } = JSON.parse(readFileSync(path.join(resultsDir, 'latest-smoke.json'), 'utf8')) as { rows: ResultRow[] };
    assert.deepEqual(rows.map((row) => row.kind), ['jose', 'jose', 'floor', 'oidc-provider', 'service', 'service']);
    for (const row of rows) {
      assert.deepEqual(row.problems, [], `${row.label} ${row.auth}`);
      if (row.kind !== 'jose') {
        assert.ok(row.checked! > 0, `${row.label} ${row.auth}: no token verified`);
        assert.equal(row.non2xx, 0);
        assert.deepEqual(Object.keys(row.statusCounts!), ['200'], `${row.label} ${row.auth}`);
      }
    }
  });
});
