// Tokens per second one service process reaches on this machine, measured over loopback with
// autocannon in a separate process from the server (the server runs the compiled dist/main.js).
//
//   npm run bench                          # SQLite, RS256 and ES256, 20 s each, 32 connections
//   DATABASE_URL=postgresql://… npm run bench
//   BENCH_SECONDS=10 BENCH_CONNECTIONS=16 BENCH_ALGS=RS256 npm run bench
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';

const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
const algs = (process.env.BENCH_ALGS ?? 'RS256,ES256').split(',');
const baseDatabaseUrl = process.env.DATABASE_URL;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

async function freshDatabase(dir: string): Promise<{ url: string; drop(): Promise<void> }> {
  if (!baseDatabaseUrl?.startsWith('postgres')) return { url: `file:${path.join(dir, 'bench.db')}`, drop: async () => {} };
  const name = `idb_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseDatabaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = new URL(baseDatabaseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: baseDatabaseUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('service did not become ready');
}

async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function benchOne(alg: string) {
  const dir = mkdtempSync(path.join(tmpdir(), 'idb-bench-'));
  const db = await freshDatabase(dir);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const adminSecret = randomBytes(32).toString('base64url');
  const child = spawn(process.execPath, ['dist/main.js'], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      ISSUER: url,
      DATABASE_URL: db.url,
      KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      SIGNING_ALG: alg,
      BOOTSTRAP_ADMIN_CLIENT_SECRET: adminSecret,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_TOKEN_PER_CLIENT: '0',
      RATE_LIMIT_TOKEN_PER_ADDRESS: '0',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitReady(url, child);
    const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const admin = await (await fetch(`${url}/token`, { method: 'POST', headers: { ...form, authorization: basic('admin', adminSecret) }, body: 'grant_type=client_credentials' })).json() as { access_token: string };
    const created = await (await fetch(`${url}/admin/clients`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${admin.access_token}` },
      body: JSON.stringify({ client_name: 'bench', client_id: 'bench', scope: 'orders:read', audience: ['https://orders.internal'] }),
    })).json() as { client_secret: string };
    const rssBefore = await rssOf(child.pid!);
    const result = await autocannon({
      url: `${url}/token`,
      method: 'POST',
      connections,
      duration: seconds,
      headers: { ...form, authorization: basic('bench', created.client_secret) },
      body: 'grant_type=client_credentials',
    });
    const rssAfter = await rssOf(child.pid!);
    return {
      alg,
      database: baseDatabaseUrl?.startsWith('postgres') ? 'postgresql' : 'sqlite',
      tokensPerSecond: Math.round(result.requests.average),
      ok2xx: result['2xx'],
      non2xx: result.non2xx,
      errors: result.errors,
      latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
      rssMiB: { before: Math.round(rssBefore), after: Math.round(rssAfter) },
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = [];
for (const alg of algs) results.push(await benchOne(alg));
console.log(`POST /token, ${connections} connections, ${seconds} s per run, one service process`);
console.table(results.map((r) => ({ ...r, latencyMs: `p50 ${r.latencyMs.p50} / p99 ${r.latencyMs.p99} / max ${r.latencyMs.max}`, rssMiB: `${r.rssMiB.before} → ${r.rssMiB.after}` })));
if (results.some((r) => r.non2xx > 0 || r.errors > 0)) process.exitCode = 1;
