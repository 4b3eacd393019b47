import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { DatabaseKind } from '../options.ts';

export type BenchDatabase = { kind: DatabaseKind; url: string; drop(): Promise<void> };

async function withPgClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** Why PostgreSQL cannot be used at `serverUrl`, or undefined when it can. */
export async function postgresUnavailableReason(serverUrl: string): Promise<string | undefined> {
  try {
    await withPgClient(serverUrl, (client) => client.query('SELECT 1'));
    return undefined;
  } catch (error) {
    return `${new URL(serverUrl).host} unreachable (${(error as Error).message || (error as Error).name})`;
  }
}

/** An empty database for one service start: a temp SQLite file, or a new PostgreSQL database. */
export async function createBenchDatabase(kind: DatabaseKind, postgresUrl: string): Promise<BenchDatabase> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(path.join(tmpdir(), 'idb-bench-'));
    return { kind, url: `file:${path.join(dir, 'bench.db')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const name = `idb_bench_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await withPgClient(postgresUrl, (client) => client.query(`CREATE DATABASE "${name}"`));
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return {
    kind,
    url: url.toString(),
    drop: () => withPgClient(postgresUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined),
  };
}
