import { execFile } from 'node:child_process';
import path from 'node:path';
import { childEnv, PROJECT_ROOT } from './service-process.ts';

/** The command as its users run it: `bin/identity-backend.js`, in its own process. */
export const CLI_BIN = path.join(PROJECT_ROOT, 'bin/identity-backend.js');

export type CliRun = { code: number; stdout: string; stderr: string };

/** The runner's environment without the service's variables (childEnv) and without any IDENTITY_* of the runner's. */
function cliEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env = childEnv({});
  for (const name of Object.keys(env)) if (name.startsWith('IDENTITY_')) delete env[name];
  delete env.WEB_CONCURRENCY;
  return { ...env, ...vars };
}

/** Runs `identity-backend …args`; never rejects on a non-zero exit (the code is the result). */
export function runCli(args: string[], vars: Record<string, string> = {}, opts: { cwd?: string; timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI_BIN, ...args], { cwd: opts.cwd ?? PROJECT_ROOT, env: cliEnv(vars), timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(new Error(`identity-backend ${args.join(' ')} did not finish: ${error.message}; stderr: ${stderr}`));
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/**
 * In a fresh checkout the first call builds dist/ once (bin/identity-backend.js): done in a
 * `before` with room for it, so no test's own timeout has to include a build.
 */
export async function ensureCliBuilt(): Promise<void> {
  const run = await runCli(['--help'], {}, { timeoutMs: 300_000 });
  if (run.code !== 0) throw new Error(`identity-backend --help failed (${run.code}): ${run.stderr}`);
}

/** Parses stdout as JSON, failing the test with the output when it is not. */
export function jsonOf<T = Record<string, unknown>>(run: CliRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${run.code}): ${run.stdout} / stderr: ${run.stderr}`);
  }
}
