import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type BetterSqlite3 from 'better-sqlite3';
import { fileURLToPath } from 'node:url';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import * as bindings from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { SchemaEngine } from '@prisma/schema-engine-wasm';
import { prepareSqliteFile } from './sqlite-file.ts';
import type { DatabaseTarget } from './database-target.ts';
import { DEFAULT_DATABASE_BOUNDS, KEEPALIVE_INITIAL_DELAY_MS, type DatabaseBounds } from './database-bounds.ts';

export type { SchemaEngine };

/** The slice of the WebAssembly JS API used here (Node has it; @types/node 20 does not declare it). */
declare const WebAssembly: {
  instantiate(bytes: Uint8Array, imports: Record<string, object>): Promise<{ instance: { exports: Record<string, unknown> } }>;
};

let instantiated: Promise<void> | undefined;

/**
 * The engine arms 10-second timers (timeouts around its queries) that it never clears; left
 * referenced, each one keeps a process that has finished its migrations alive for 10 s. Unref'd,
 * they still fire while the process has other work.
 */
function withUnrefTimers(imports: typeof bindings): Record<string, unknown> {
  return Object.fromEntries(Object.entries(imports).map(([name, value]) => [
    name,
    name.startsWith('__wbg_setTimeout_') && typeof value === 'function'
      ? (...args: unknown[]) => {
        const timer = (value as (...a: unknown[]) => NodeJS.Timeout)(...args);
        timer.unref?.();
        return timer;
      }
      : value,
  ]));
}

/**
 * Prisma's schema engine, compiled to WebAssembly, so migrations need no native binary and no
 * download. The package's own entry point imports the .wasm file as an ES module, which Node 20
 * allows only behind --experimental-wasm-modules; instantiating it here does the same without a flag.
 */
function instantiateWasm(): Promise<void> {
  instantiated ??= (async () => {
    const bindingsUrl = import.meta.resolve('@prisma/schema-engine-wasm/schema_engine_bg');
    const wasmPath = fileURLToPath(bindingsUrl).replace(/\.js$/, '.wasm');
    const { instance } = await WebAssembly.instantiate(await readFile(wasmPath), {
      './schema_engine_bg.js': withUnrefTimers(bindings),
    });
    bindings.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
  })();
  return instantiated;
}

/**
 * The engine opens more than one connection; on one SQLite file, separate better-sqlite3 handles
 * lock each other out (SQLITE_BUSY) while a migration transaction is open, so every connect()
 * shares one handle, closed once when the engine is done.
 */
/**
 * Marks the migration whose script this is as finished, inside the script's own transaction. The
 * engine records a migration as started, runs its script, then records it finished; a process killed
 * in between leaves a row that says "started, not finished" (which makes every later deploy refuse).
 * With this mark in the same transaction as the script, such a row can only mean the script never
 * committed, so repairInterruptedMigrations (migrations.ts) may safely set it rolled back and let
 * the engine apply it again. The checksum is the engine's own: SHA-256 of the script.
 */
const MARK_FINISHED = (placeholder: string) =>
  `UPDATE "_prisma_migrations" SET "finished_at" = CURRENT_TIMESTAMP, "applied_steps_count" = 1 WHERE "checksum" = ${placeholder} AND "finished_at" IS NULL AND "rolled_back_at" IS NULL`;
const checksum = (script: string) => createHash('sha256').update(script).digest('hex');

/** The statements of a script, split as Prisma's pg adapter splits them. */
const statements = (script: string) => script.split(';').map((s) => s.trim()).filter((s) => s.length > 0);

/**
 * PostgreSQL: the pg adapter runs a migration script statement by statement, outside any
 * transaction, so a kill half-way left a half-applied schema. Here the whole script, and its
 * finished mark, is one transaction on one connection (PostgreSQL DDL is transactional).
 */
function atomicPostgresScripts(adapter: SqlDriverAdapter, pool: pg.Pool): SqlDriverAdapter {
  adapter.executeScript = async (script: string) => {
    const client = await pool.connect();
    let failure: unknown;
    try {
      await client.query('BEGIN');
      for (const statement of statements(script)) await client.query(statement);
      const tracked = await client.query(`SELECT to_regclass('"_prisma_migrations"') IS NOT NULL AS present`);
      if (tracked.rows[0]?.present) await client.query(MARK_FINISHED('$1'), [checksum(script)]);
      await client.query('COMMIT');
    } catch (error) {
      failure = error;
      await client.query('ROLLBACK').catch(() => undefined);
    } finally {
      client.release(failure instanceof Error && !('code' in failure) ? failure : undefined);
    }
    if (failure) (adapter as unknown as { onError(e: unknown): never }).onError(failure);
  };
  return adapter;
}

/**
 * SQLite: the same, with foreign-key enforcement off around the transaction (a migration that
 * rebuilds a table turns it off itself, which SQLite ignores inside a transaction) and the keys
 * checked before commit.
 */
function atomicSqliteScripts(adapter: SqlDriverAdapter): SqlDriverAdapter {
  const database = (adapter as unknown as { client: BetterSqlite3.Database }).client;
  adapter.executeScript = async (script: string) => {
    const enforced = database.pragma('foreign_keys', { simple: true }) === 1;
    try {
      if (enforced) database.pragma('foreign_keys = OFF');
      database.exec('BEGIN IMMEDIATE');
      try {
        database.exec(script);
        const violations = database.pragma('foreign_key_check') as unknown[];
        if (violations.length) throw Object.assign(new Error(`the migration leaves ${violations.length} foreign-key violations`), { code: 'SQLITE_CONSTRAINT_FOREIGNKEY' });
        const tracked = database.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_prisma_migrations'`).get();
        if (tracked) database.prepare(MARK_FINISHED('?')).run(checksum(script));
        database.exec('COMMIT');
      } catch (error) {
        if (database.inTransaction) database.exec('ROLLBACK');
        throw error;
      }
    } catch (error) {
      (adapter as unknown as { onError(e: unknown): never }).onError(error);
    } finally {
      if (enforced) database.pragma('foreign_keys = ON');
    }
  };
  return adapter;
}

class SharedSqliteConnection implements SqlMigrationAwareDriverAdapterFactory {
  readonly provider = 'sqlite' as const;
  readonly adapterName: string;
  #factory: PrismaBetterSqlite3;
  #adapter: Promise<SqlDriverAdapter> | undefined;

  constructor(file: string, lockWaitMs: number) {
    // First start on a laptop: ./data/ does not exist yet; the migration is the first to open the file.
    prepareSqliteFile(file);
    this.#factory = new PrismaBetterSqlite3({ url: file, timeout: lockWaitMs });
    this.adapterName = this.#factory.adapterName;
  }

  connect(): Promise<SqlDriverAdapter> {
    this.#adapter ??= this.#factory.connect().then((connected) => {
      const adapter = atomicSqliteScripts(connected);
      const dispose = adapter.dispose.bind(adapter);
      // Only close() below really closes the shared handle.
      adapter.dispose = () => Promise.resolve();
      this.close = async () => { this.#adapter = undefined; await dispose(); };
      return adapter;
    });
    return this.#adapter;
  }

  connectToShadowDb(): Promise<SqlDriverAdapter> {
    return this.#factory.connectToShadowDb();
  }

  close: () => Promise<void> = async () => {};
}

function migrationAdapterFactory(target: DatabaseTarget, bounds: DatabaseBounds): SqlMigrationAwareDriverAdapterFactory & { close(): Promise<void> } {
  // The migration's own wait for another process's lock on the file is SQLite's busy handler (this
  // runs before the service serves anything, so blocking the event loop here holds nothing up).
  if (target.provider === 'sqlite') return new SharedSqliteConnection(target.file, bounds.statementMs);
  // Our own pool, so closing the engine ends its connections instead of leaving them idle. A connect
  // timeout, so a PostgreSQL that accepts but never answers stops start-up instead of holding it;
  // no statement timeout, since a migration may rightly take long (an index on a big table).
  const pool = new pg.Pool({
    connectionString: target.url, max: 2, allowExitOnIdle: true, connectionTimeoutMillis: bounds.connectMs, keepAlive: true, keepAliveInitialDelayMillis: KEEPALIVE_INITIAL_DELAY_MS,
  });
  pool.on('error', () => undefined);
  const factory = new PrismaPg(pool);
  const connect = factory.connect.bind(factory);
  return Object.assign(factory, {
    connect: async () => atomicPostgresScripts(await connect(), pool),
    close: () => pool.end(),
  });
}

export type OpenSchemaEngine = { engine: SchemaEngine; close(): Promise<void> };

/** Opens a schema engine on the target database; `datamodel` is the Prisma schema text. */
export async function openSchemaEngine(target: DatabaseTarget, datamodel: string, bounds: DatabaseBounds = DEFAULT_DATABASE_BOUNDS): Promise<OpenSchemaEngine> {
  await instantiateWasm();
  const factory = migrationAdapterFactory(target, bounds);
  // The engine reports progress through this callback; nothing it says is needed at start-up.
  const ignoreEngineLog = () => {};
  const engine = await bindings.SchemaEngine.new(
    { datamodels: [['schema.prisma', datamodel]] }, ignoreEngineLog, bindMigrationAwareSqlAdapterFactory(factory));
  return {
    engine,
    async close() {
      engine.free();
      await factory.close();
    },
  };
}
