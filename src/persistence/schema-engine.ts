import { readFile } from 'node:fs/promises';
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
class SharedSqliteConnection implements SqlMigrationAwareDriverAdapterFactory {
  readonly provider = 'sqlite' as const;
  readonly adapterName: string;
  #factory: PrismaBetterSqlite3;
  #adapter: Promise<SqlDriverAdapter> | undefined;

  constructor(file: string) {
    // First start on a laptop: ./data/ does not exist yet; the migration is the first to open the file.
    prepareSqliteFile(file);
    this.#factory = new PrismaBetterSqlite3({ url: file, timeout: 5000 });
    this.adapterName = this.#factory.adapterName;
  }

  connect(): Promise<SqlDriverAdapter> {
    this.#adapter ??= this.#factory.connect().then((adapter) => {
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

function migrationAdapterFactory(target: DatabaseTarget): SqlMigrationAwareDriverAdapterFactory & { close(): Promise<void> } {
  if (target.provider === 'sqlite') return new SharedSqliteConnection(target.file);
  // Our own pool, so closing the engine ends its connections instead of leaving them idle.
  const pool = new pg.Pool({ connectionString: target.url, max: 2, allowExitOnIdle: true });
  return Object.assign(new PrismaPg(pool), { close: () => pool.end() });
}

export type OpenSchemaEngine = { engine: SchemaEngine; close(): Promise<void> };

/** Opens a schema engine on the target database; `datamodel` is the Prisma schema text. */
export async function openSchemaEngine(target: DatabaseTarget, datamodel: string): Promise<OpenSchemaEngine> {
  await instantiateWasm();
  const factory = migrationAdapterFactory(target);
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
