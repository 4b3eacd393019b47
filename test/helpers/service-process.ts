import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../../src/config/config-schema.ts';

/** The service as its users run it: `node src/main.ts` in a child process (through tsx). */
export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const LISTENING = /"msg":"identity-backend listening"/;
export const SHUTTING_DOWN = /"msg":"shutting down: finishing in-flight requests"/;
/** SHUTDOWN_TIMEOUT's default (config-schema.ts): how long SIGTERM may wait for in-flight requests. */
export const SHUTDOWN_TIMEOUT_MS = 10_000;
export const START_TIMEOUT_MS = 20_000;


/**
 * The child's environment: the runner's own, without any variable the service reads (so the
 * DATABASE_URL that picks the test engine does not leak in) and without the test runner's markers.
 */
export function childEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(configSchema.shape)) delete env[name];
  delete env.NODE_TEST_CONTEXT;
  // One process unless a test asks for workers (test/process/cluster.test.ts does).
  return { ...env, WEB_CONCURRENCY: '1', ...vars };
}

export type ServiceProcess = {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when stdout matches `pattern`; rejects if the process exits first or time runs out. */
  waitForStdout(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** The same for stderr. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<void>;
};

const children = new Set<ChildProcess>();

export function spawnService(vars: Record<string, string>): ServiceProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: PROJECT_ROOT,
    env: childEnv(vars),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    listeners.forEach((l) => l());
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
    listeners.forEach((l) => l());
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      children.delete(child);
      listeners.forEach((l) => l());
      resolve({ code, signal });
    });
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForStdout(pattern, timeoutMs) {
      return waitFor(() => out, pattern, timeoutMs);
    },
    waitForStderr(pattern, timeoutMs) {
      return waitFor(() => err, pattern, timeoutMs);
    },
  };

  function waitFor(text: () => string, pattern: RegExp, timeoutMs = START_TIMEOUT_MS) {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`timed out waiting for ${pattern}; stdout: ${out}; stderr: ${err}`)), timeoutMs);
      const check = () => {
        if (pattern.test(text())) done();
        else if (child.exitCode !== null || child.signalCode !== null) {
          done(new Error(`the service exited (${child.exitCode ?? child.signalCode}) before ${pattern}; stderr: ${err}`));
        }
      };
      function done(error?: Error) {
        clearTimeout(timer);
        listeners.delete(check);
        if (error) reject(error);
        else resolve();
      }
      listeners.add(check);
      check();
    });
  }
}

export async function killAll(): Promise<void> {
  await Promise.all([...children].map((child) => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('close', () => resolve());
    child.kill('SIGKILL');
  })));
}
