import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { childEnv, LISTENING, PROJECT_ROOT, spawnService, type ServiceProcess } from '../../test/helpers/service-process.ts';

/**
 * The built service (`npm run test:faults` builds it first): node dist/main.js starts in a fraction
 * of the time tsx needs, and drills start many processes. Without dist/, src/main.ts through tsx.
 */
export function spawnBuilt(vars: Record<string, string>): ServiceProcess {
  if (!existsSync(path.join(PROJECT_ROOT, 'dist', 'main.js'))) return spawnService(vars);
  const child = spawn(process.execPath, ['dist/main.js'], { cwd: PROJECT_ROOT, env: childEnv(vars), stdio: ['ignore', 'pipe', 'pipe'] });
  return wrapChild(child);
}

function wrapChild(child: import('node:child_process').ChildProcess): ServiceProcess {
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (c: string) => { out += c; listeners.forEach((l) => l()); });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { err += c; listeners.forEach((l) => l()); });
  live.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => { live.delete(child); listeners.forEach((l) => l()); resolve({ code, signal }); });
  });
  const waitFor = (text: () => string, pattern: RegExp, timeoutMs = 60_000) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`timed out waiting for ${pattern}; stdout: ${out.slice(-2000)}; stderr: ${err}`)), timeoutMs);
    const check = () => {
      if (pattern.test(text())) done();
      else if (child.exitCode !== null || child.signalCode !== null) done(new Error(`the service exited (${child.exitCode ?? child.signalCode}) before ${pattern}; stderr: ${err}`));
    };
    function done(error?: Error) {
      clearTimeout(timer);
      listeners.delete(check);
      if (error) reject(error); else resolve();
    }
    listeners.add(check);
    check();
  });
  return {
    child, stdout: () => out, stderr: () => err, exited,
    waitForStdout: (p, t) => waitFor(() => out, p, t),
    waitForStderr: (p, t) => waitFor(() => err, p, t),
  };
}

const live = new Set<import('node:child_process').ChildProcess>();

/** SIGKILLs every service a drill started and has not stopped. */
export async function killServices(): Promise<void> {
  await Promise.all([...live].map((child) => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('close', () => resolve());
    child.kill('SIGKILL');
  })));
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One service process as operators run it, with the bootstrap admin as the load's client. */
export type DrillService = {
  process: ServiceProcess;
  url: string;
  pid: number;
  clientId: string;
  secret: string;
  /** Log lines (JSON) whose msg matches. */
  logLines(pattern: RegExp): Array<Record<string, unknown>>;
};

export type DrillEnv = { dir: string; keysDir: string; kek: string; secret: string };

/** A temporary folder with a key directory, one key-encryption key and one admin secret, kept across restarts. */
export function drillEnv(): DrillEnv & { remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'idb-fault-'));
  return {
    dir,
    keysDir: path.join(dir, 'keys'),
    kek: randomBytes(32).toString('hex'),
    secret: randomBytes(32).toString('base64url'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function serviceVars(env: DrillEnv, vars: Record<string, string>): Record<string, string> {
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    KEYS_DIR: env.keysDir,
    KEY_ENCRYPTION_KEY: env.kek,
    BOOTSTRAP_ADMIN_CLIENT_SECRET: env.secret,
    RATE_LIMIT_TOKEN_PER_CLIENT: '0',
    RATE_LIMIT_TOKEN_PER_ADDRESS: '0',
    RATE_LIMIT_AUTH_FAILURES: '0',
    // ES256: a first start makes its signing keys in milliseconds, not the seconds RSA takes.
    SIGNING_ALG: 'ES256',
    ...vars,
  };
}

function parseLines(text: string): Array<Record<string, unknown>> {
  return text.split('\n').filter((l) => l.startsWith('{')).map((l) => { try { return JSON.parse(l) as Record<string, unknown>; } catch { return {}; } });
}

export async function startDrillService(env: DrillEnv, vars: Record<string, string>, timeoutMs = 60_000): Promise<DrillService> {
  const proc = spawnBuilt(serviceVars(env, vars));
  await proc.waitForStdout(LISTENING, timeoutMs);
  const line = parseLines(proc.stdout()).find((l) => l.msg === 'identity-backend listening')!;
  return {
    process: proc,
    url: String(line.url),
    pid: proc.child.pid!,
    clientId: 'admin',
    secret: env.secret,
    logLines: (pattern) => parseLines(proc.stdout()).filter((l) => pattern.test(String(l.msg ?? ''))),
  };
}

export type Answer = { status: number; ms: number; jti?: string; at: number; error?: string };

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** One request; never throws (a connection error is status 0). */
export function request(url: string, opts: { method?: string; path: string; headers?: Record<string, string>; body?: string; timeoutMs?: number }): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = http.request(new URL(opts.path, url), { method: opts.method ?? 'GET', headers: opts.headers, agent, timeout: opts.timeoutMs ?? 60_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - started }));
      res.on('error', () => resolve({ status: 0, body, ms: performance.now() - started }));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (e) => resolve({ status: 0, body: e.message, ms: performance.now() - started }));
    req.end(opts.body);
  });
}

export async function requestToken(service: Pick<DrillService, 'url' | 'clientId' | 'secret'>): Promise<Answer> {
  const at = Date.now();
  const res = await request(service.url, {
    method: 'POST',
    path: '/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${service.clientId}:${service.secret}`).toString('base64')}` },
    body: 'grant_type=client_credentials',
  });
  const answer: Answer = { status: res.status, ms: res.ms, at };
  if (res.status === 200) {
    const token = (JSON.parse(res.body) as { access_token: string }).access_token;
    answer.jti = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;
  } else if (res.status === 0) answer.error = res.body;
  return answer;
}

/** `concurrency` clients sending token requests back to back until stop(); every answer is kept. */
export function startLoad(service: Pick<DrillService, 'url' | 'clientId' | 'secret'>, concurrency = 4) {
  const answers: Answer[] = [];
  let running = true;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      const a = await requestToken(service);
      answers.push(a);
      if (a.status !== 200) await sleep(20);
    }
  });
  return {
    answers,
    since: (t: number) => answers.filter((a) => a.at >= t),
    async stop() {
      running = false;
      await Promise.all(loops);
      return answers;
    },
  };
}

/** The jti of every token.issued row. */
export async function auditedJtis(databaseUrl: string): Promise<Set<string>> {
  if (databaseUrl.startsWith('file:')) {
    const db = new BetterSqlite3(databaseUrl.slice('file:'.length), { readonly: true, fileMustExist: true });
    try {
      return new Set((db.prepare(`SELECT jti FROM "AuditEvent" WHERE type = 'token.issued'`).all() as Array<{ jti: string }>).map((r) => r.jti));
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return new Set((await client.query<{ jti: string }>(`SELECT jti FROM "AuditEvent" WHERE type = 'token.issued'`)).rows.map((r) => r.jti));
  } finally {
    await client.end();
  }
}

/** The promise every drill checks: every token a client received has its token.issued row. */
export async function tokensWithoutAuditRow(answers: Answer[], databaseUrl: string): Promise<{ received: number; audited: number; missing: string[] }> {
  const received = answers.filter((a) => a.jti).map((a) => a.jti!);
  const rows = await auditedJtis(databaseUrl);
  return { received: received.length, audited: received.filter((j) => rows.has(j)).length, missing: received.filter((j) => !rows.has(j)) };
}

export function statusCounts(answers: Answer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of answers) counts[a.status] = (counts[a.status] ?? 0) + 1;
  return counts;
}

export const maxMs = (answers: Answer[]) => Math.round(Math.max(0, ...answers.map((a) => a.ms)));

/** Polls until check() is true; the seconds it took, or undefined at the time limit. */
export async function secondsUntil(check: () => Promise<boolean> | boolean, limitMs: number, everyMs = 50): Promise<number | undefined> {
  const started = performance.now();
  while (performance.now() - started < limitMs) {
    if (await check()) return (performance.now() - started) / 1000;
    await sleep(everyMs);
  }
  return undefined;
}

export function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

export const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

/** SIGTERM and wait; the exit code and signal, and how long it took. */
export async function terminate(service: DrillService, signal: NodeJS.Signals = 'SIGTERM') {
  const started = performance.now();
  service.process.child.kill(signal);
  const exit = await service.process.exited;
  return { ...exit, seconds: (performance.now() - started) / 1000 };
}
