import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../../test/helpers/free-port.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A private redis-server on a free port: drills stop and pause it, never the shared one. */
export async function startPrivateRedis(port?: number): Promise<{ port: number; url: string; process: ChildProcess; stop(): Promise<void>; pause(): void; resume(): void }> {
  const p = port ?? await freePort();
  const child = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const ok = spawnSync('redis-cli', ['-p', String(p), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG';
    if (ok) break;
    await sleep(50);
  }
  return {
    port: p,
    url: `redis://127.0.0.1:${p}`,
    process: child,
    pause: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.kill('SIGCONT');
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }),
  };
}

function pgBin(name: string): string {
  const versions = readdirSync('/usr/lib/postgresql').sort();
  return path.join('/usr/lib/postgresql', versions.at(-1)!, 'bin', name);
}

/** Runs a PostgreSQL tool as the postgres user when we are root (initdb and postgres refuse root). */
function asPostgres(cmd: string, args: string[]) {
  const root = process.getuid?.() === 0;
  const result = root ? spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { encoding: 'utf8' }) : spawnSync(cmd, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${result.stderr || result.stdout}`);
  return result.stdout;
}

/**
 * A private PostgreSQL cluster (initdb into a temporary folder, its own free port), for the drill
 * that stops the server: the shared server on 5432 is never stopped.
 */
export async function startPrivatePostgres(): Promise<{ port: number; url: string; stop(): void; start(): void; remove(): void }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'idb-pg-'));
  if (process.getuid?.() === 0) chownSync(dir, Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout), Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout));
  const data = path.join(dir, 'data');
  const port = await freePort();
  asPostgres(pgBin('initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const start = () => asPostgres(pgBin('pg_ctl'), ['-D', data, '-w', '-l', path.join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  start();
  return {
    port,
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    start,
    stop: () => { asPostgres(pgBin('pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']); },
    remove() {
      if (existsSync(path.join(data, 'postmaster.pid'))) {
        try { asPostgres(pgBin('pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']); } catch { /* already stopped */ }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh database on the shared PostgreSQL (dropped afterwards), reached through `port` when given (a proxy). */
export async function createSharedPgDatabase(base = process.env.FAULTS_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres') {
  const name = `idb_faults_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    /** The same database through a proxy on `port`. */
    via: (port: number) => { const u = new URL(url); u.host = `127.0.0.1:${port}`; return u.toString(); },
    host: { host: url.hostname, port: Number(url.port || 5432) },
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}
