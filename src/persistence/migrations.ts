import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { MigrationList } from '@prisma/schema-engine-wasm';
import type { DatabaseTarget } from './database-target.ts';
import { migrationsDir, schemaFor } from './prisma-schema.ts';
import { openSchemaEngine, type SchemaEngine } from './schema-engine.ts';
import { SqliteFileInUse, sqliteFileInUse } from './sqlite-file.ts';

const LOCKFILE = 'migration_lock.toml';
const noFilters = { externalTables: [], externalEnums: [] };

/** prisma/migrations/<provider>/ read the way `prisma migrate` reads it. */
export function loadMigrationList(target: Pick<DatabaseTarget, 'provider'>): MigrationList {
  const baseDir = migrationsDir(target.provider);
  const lockPath = path.join(baseDir, LOCKFILE);
  const dirs = existsSync(baseDir)
    ? readdirSync(baseDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()
    : [];
  return {
    baseDir,
    lockfile: { path: LOCKFILE, content: existsSync(lockPath) ? readFileSync(lockPath, 'utf8') : null },
    shadowDbInitScript: '',
    migrationDirectories: dirs.map((dir) => ({
      path: dir,
      migrationFile: { path: 'migration.sql', content: { tag: 'ok', value: readFileSync(path.join(baseDir, dir, 'migration.sql'), 'utf8') } },
    })),
  };
}

async function withEngine<T>(target: DatabaseTarget, work: (engine: SchemaEngine) => Promise<T>): Promise<T> {
  const opened = await openSchemaEngine(target, schemaFor(target.provider));
  try {
    return await work(opened.engine);
  } finally {
    await opened.close();
  }
}

/**
 * Applies the committed migrations that the database has not seen yet (`prisma migrate deploy`).
 * A SQLite file another process holds open is refused in one line (SqliteFileInUse), before the
 * engine tries or, when the other process opened it in between, in place of the engine's error.
 */
export async function applyMigrations(target: DatabaseTarget): Promise<string[]> {
  if (target.provider === 'sqlite' && sqliteFileInUse(target.file)) throw new SqliteFileInUse(target.file);
  try {
    return await withEngine(target, async (engine) => {
      const result = await engine.applyMigrations({ migrationsList: loadMigrationList(target), filters: noFilters });
      return result.appliedMigrationNames;
    });
  } catch (error) {
    if (target.provider === 'sqlite' && sqliteFileInUse(target.file)) throw new SqliteFileInUse(target.file);
    throw error;
  }
}

/**
 * The SQL that would turn the live database into what schema.prisma describes; empty when the
 * migrations and the schema agree (no drift).
 */
export function diffDatabaseToSchema(target: DatabaseTarget): Promise<string> {
  return withEngine(target, async (engine) => {
    const result = await engine.diff({
      from: { tag: 'url', url: target.url },
      to: { tag: 'schemaDatamodel', files: [{ path: 'schema.prisma', content: schemaFor(target.provider) }] },
      script: true,
      exitCode: null,
      filters: noFilters,
    });
    return (result.stdout ?? '').trim();
  });
}
