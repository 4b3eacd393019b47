import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import type BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { PrismaClient as PostgresPrismaClient } from '../generated/prisma/postgresql/client.ts';
import { PrismaClient as SqlitePrismaClient } from '../generated/prisma/sqlite/client.ts';
import type { DatabaseTarget } from './database-target.ts';
import { DEFAULT_DATABASE_BOUNDS, KEEPALIVE_INITIAL_DELAY_MS, queryTimeoutMs, SQLITE_BUSY_ATTEMPT_MS, type DatabaseBounds } from './database-bounds.ts';
import { prepareSqliteFile } from './sqlite-file.ts';

/**
 * The two generated clients share one model API (they come from one schema.prisma); repositories
 * are written once against this type.
 */
export type Db = PostgresPrismaClient;
export type DbTransaction = Omit<Db, '$connect' | '$disconnect' | '$on' | '$transaction' | '$extends'>;

/**
 * The driver under Prisma Client, for the one hot-path statement that bypasses it
 * (audit-batch-insert.ts): the same better-sqlite3 connection or the same pg pool.
 */
export type Driver = { provider: 'sqlite'; database: BetterSqlite3.Database } | { provider: 'postgresql'; pool: pg.Pool };

export type OpenedDatabase = { db: Db; driver: Driver };

/**
 * The better-sqlite3 adapter opens its connection itself and does not hand it out; this factory
 * keeps the connection it opened (the adapter's `client`) so the audit writer shares it. One
 * connection matters: a second one would wait for SQLite's write lock synchronously, on the event
 * loop, while the first waits for the event loop to commit.
 */
function capturingSqliteAdapter(inner: PrismaBetterSqlite3, captured: (database: BetterSqlite3.Database) => void): SqlDriverAdapterFactory {
  return {
    provider: inner.provider,
    adapterName: inner.adapterName,
    async connect() {
      const adapter = await inner.connect();
      captured((adapter as unknown as { client: BetterSqlite3.Database }).client);
      return adapter;
    },
  };
}

/** Opens Prisma Client on the target database through its driver adapter. */
export async function openDatabase(target: DatabaseTarget, bounds: DatabaseBounds = DEFAULT_DATABASE_BOUNDS): Promise<OpenedDatabase> {
  if (target.provider === 'postgresql') {
    const pool = new pg.Pool(postgresPoolConfig(target.url, bounds));
    // Prisma's adapter listens for idle-client errors too; without a listener of our own a dropped
    // idle connection would be an uncaught 'error' event once the adapter is disposed.
    pool.on('error', () => undefined);
    const db = new PostgresPrismaClient({ adapter: new PrismaPg(pool) });
    return { db, driver: { provider: 'postgresql', pool } };
  }
  prepareSqliteFile(target.file);
  let database: BetterSqlite3.Database | undefined;
  const adapter = capturingSqliteAdapter(new PrismaBetterSqlite3({ url: target.file, timeout: SQLITE_BUSY_ATTEMPT_MS }), (d) => {
    database = d;
  });
  const db = new SqlitePrismaClient({ adapter }) as unknown as Db;
  await db.$connect();
  if (!database) throw new Error('the SQLite driver adapter did not open a connection');
  // WAL lets readers proceed during a write. synchronous: FULL (the default) syncs the WAL at every
  // commit, so an audit row whose token was answered survives power loss too; NORMAL survives a
  // process crash only (docs/reliability.md "Durability").
  database.pragma('journal_mode = WAL');
  database.pragma(`synchronous = ${bounds.sqliteSynchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
  database.pragma('foreign_keys = ON');
  return { db, driver: { provider: 'sqlite', database } };
}

/**
 * Every bound a pooled PostgreSQL connection needs (docs/reliability.md): a connect timeout; the
 * server ends a statement, or a lock wait, past DATABASE_STATEMENT_TIMEOUT; the client gives up a
 * second later on a connection whose answer can never come, and pg-pool then drops that connection
 * (a query through the pool releases its client with the error), so the pool heals by itself after
 * a silent failover; TCP keepalive; idle connections closed. synchronous_commit is set to on for the
 * service's sessions whatever the server default: a commit returns only once it is flushed (on a
 * synchronous standby too, when one is configured), which is what "no token without its audit row" needs.
 */
export function postgresPoolConfig(url: string, bounds: DatabaseBounds): pg.PoolConfig {
  const statement = Math.round(bounds.statementMs);
  return {
    connectionString: url,
    max: 10,
    connectionTimeoutMillis: bounds.connectMs,
    query_timeout: queryTimeoutMs(bounds),
    idleTimeoutMillis: bounds.idleMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_INITIAL_DELAY_MS,
    options: `-c statement_timeout=${statement} -c lock_timeout=${statement} -c idle_in_transaction_session_timeout=${statement * 4} -c synchronous_commit=on`,
  };
}

/** Disconnects Prisma Client and ends the pool it was given (Prisma leaves an external pool open). */
export async function closeDatabase(opened: OpenedDatabase): Promise<void> {
  await opened.db.$disconnect();
  if (opened.driver.provider === 'postgresql') await opened.driver.pool.end().catch(() => undefined);
}
