import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot } from '../runtime.ts';

export type ServerProcess = {
  name: string;
  /** http://127.0.0.1:<port> */
  url: string;
  pid: number;
  /** SIGTERM, then waits for the exit (SIGKILL after 15 s). */
  stop(): Promise<void>;
};

export type ServerSpec = {
  name: string;
  nodeArgs: string[];
  port: number;
  env: Record<string, string>;
  /** Answers 200 once the server can take load. */
  readyPath: string;
  readyTimeoutMs?: number;
};

/** What a child needs from our environment; nothing a server reads as configuration leaks in. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Servers still running: ended with the bench, whatever way it leaves (a server started ahead may never be measured). */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGTERM');
});

/** Starts `node <nodeArgs>` in the repository root and waits until `readyPath` answers 200. */
export async function startServerProcess(spec: ServerSpec): Promise<ServerProcess> {
  const child = spawn(process.execPath, spec.nodeArgs, {
    cwd: projectRoot,
    env: { ...baseEnv(), ...spec.env, PORT: String(spec.port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  running.add(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    running.delete(child);
    resolve();
  }));
  const url = `http://127.0.0.1:${spec.port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(killer);
  };
  const deadline = Date.now() + (spec.readyTimeoutMs ?? 90_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${spec.name} exited during start-up (${child.exitCode ?? child.signalCode}): ${lastLine(stderr)}`);
    }
    const ready = await fetch(`${url}${spec.readyPath}`).then((res) => res.ok, () => false);
    if (ready) return { name: spec.name, url, pid: child.pid!, stop };
    await sleep(100);
  }
  await stop();
  throw new Error(`${spec.name} was not ready within ${Math.round((spec.readyTimeoutMs ?? 90_000) / 1000)} s: ${lastLine(stderr)}`);
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1)?.slice(0, 500) ?? '(no output)';
}
