import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import type { Config } from '../config/load-config.ts';
import { describePostgres, type DatabaseBounds } from './database-bounds.ts';
import type { DatabaseTarget } from './database-target.ts';

export function databaseBounds(config: Config): DatabaseBounds {
  return {
    connectMs: config.timeouts.databaseConnect,
    statementMs: config.timeouts.databaseStatement,
    idleMs: config.timeouts.databaseIdle,
    sqliteSynchronous: config.sqliteSynchronous,
  };
}

/** Start-up refuses with this: one line naming the dependency and what it did. */
export class DatabaseRefused extends Error {}

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * SQLite: a file that exists must be this service's database. A zero-length file (truncated, or
 * created by something else) or a file that is not SQLite, or a SQLite database with tables but
 * none of this service's migrations, would otherwise become a brand-new deployment with new keys
 * (or a half-migrated foreign database) without a word.
 */
function checkSqliteFile(file: string): void {
  if (!existsSync(file)) return;
  const size = statSync(file).size;
  if (size === 0) {
    throw new DatabaseRefused(`DATABASE_URL: ${file} is an empty file; refusing to start a new deployment over it (restore the database, or delete the file to start afresh)`);
  }
  const header = Buffer.alloc(SQLITE_HEADER.length);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  if (!header.equals(SQLITE_HEADER)) throw new DatabaseRefused(`DATABASE_URL: ${file} is not a SQLite database; refusing to start`);
  const database = new BetterSqlite3(file, { readonly: true, fileMustExist: true, timeout: 1000 });
  try {
    const tables = database.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).all() as Array<{ name: string }>;
    if (tables.length > 0 && !tables.some((t) => t.name === '_prisma_migrations')) {
      throw new DatabaseRefused(`DATABASE_URL: ${file} holds another application's tables (${tables.slice(0, 3).map((t) => t.name).join(', ')}); refusing to start`);
    }
  } finally {
    database.close();
  }
}

/**
 * PostgreSQL: it must answer within DATABASE_CONNECT_TIMEOUT (a server that accepts connections
 * but never answers would otherwise hold start-up with no output), and a database that holds tables
 * but not this service's migrations is refused.
 */
async function checkPostgres(url: string, bounds: DatabaseBounds): Promise<void> {
  const name = describePostgres(url);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: bounds.connectMs, query_timeout: bounds.connectMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    const code = (error as { code?: string }).code;
    const what = code === 'ECONNREFUSED' ? 'refused the connection'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'cannot be resolved'
        : code && /^[0-9A-Z]{5}$/.test(code) ? `refused the session (${(error as Error).message})`
          : `did not answer within ${bounds.connectMs / 1000} s`;
    throw new DatabaseRefused(`${name} ${what} (DATABASE_URL, DATABASE_CONNECT_TIMEOUT)`);
  }
  try {
    const { rows } = await client.query<{ tables: string[]; migrated: boolean }>(
      `SELECT coalesce(array_agg(tablename::text), '{}') AS tables, bool_or(tablename = '_prisma_migrations') AS migrated
       FROM pg_tables WHERE schemaname = current_schema()`,
    ).catch(() => {
      throw new DatabaseRefused(`${name} accepted the connection but did not answer a query within ${bounds.connectMs / 1000} s (DATABASE_CONNECT_TIMEOUT)`);
    });
    const { tables, migrated } = rows[0] ?? { tables: [], migrated: false };
    if (tables.length > 0 && !migrated) {
      throw new DatabaseRefused(`DATABASE_URL: ${name} holds another application's tables (${tables.slice(0, 3).join(', ')}); refusing to start`);
    }
  } finally {
    client.end().catch(() => undefined);
  }
}

/** Before migrations and before serving: the database answers and is this service's own (or new). */
export async function checkDatabase(target: DatabaseTarget, bounds: DatabaseBounds): Promise<void> {
  if (target.provider === 'sqlite') checkSqliteFile(target.file);
  else await checkPostgres(target.url, bounds);
}
