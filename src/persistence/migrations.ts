import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import path from 'node:path';
import type { MigrationList } from '@prisma/schema-engine-wasm';
import type { DatabaseTarget } from './database-target.ts';
import { migrationsDir, schemaFor } from './prisma-schema.ts';
import { openSchemaEngine, type SchemaEngine } from './schema-engine.ts';
import { DEFAULT_DATABASE_BOUNDS, type DatabaseBounds } from './database-bounds.ts';
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

async function withEngine<T>(target: DatabaseTarget, work: (engine: SchemaEngine) => Promise<T>, bounds: DatabaseBounds = DEFAULT_DATABASE_BOUNDS): Promise<T> {
  const opened = await openSchemaEngine(target, schemaFor(target.provider), bounds);
  try {
    return await work(opened.engine);
  } finally {
    await opened.close();
  }
}

/** The advisory lock Prisma's schema engine takes on PostgreSQL while it migrates. */
const PRISMA_MIGRATION_LOCK = 72707369;
const UNFINISHED = `SELECT "migration_name" AS name FROM "_prisma_migrations" WHERE "finished_at" IS NULL AND "rolled_back_at" IS NULL`;
const ROLL_BACK = `UPDATE "_prisma_migrations" SET "rolled_back_at" = CURRENT_TIMESTAMP WHERE "finished_at" IS NULL AND "rolled_back_at" IS NULL`;

/**
 * A migration recorded as started but not finished: the process was killed while it ran (or its
 * script failed). Every script runs in one transaction together with its finished mark
 * (schema-engine.ts), so such a row means nothing of that script was committed: it is set rolled
 * back, as `prisma migrate resolve --rolled-back` would, and the engine applies it again. Without
 * this, the engine refuses every later start ("failed migrations"). Returns the names repaired.
 */
export async function repairInterruptedMigrations(target: DatabaseTarget, bounds: DatabaseBounds = DEFAULT_DATABASE_BOUNDS): Promise<string[]> {
  if (target.provider === 'sqlite') {
    if (!existsSync(target.file)) return [];
    const database = new BetterSqlite3(target.file, { timeout: bounds.statementMs });
    try {
      if (!database.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_prisma_migrations'`).get()) return [];
      const names = (database.prepare(UNFINISHED).all() as Array<{ name: string }>).map((r) => r.name);
      if (names.length) database.prepare(ROLL_BACK).run();
      return names;
    } finally {
      database.close();
    }
  }
  // No query timeout: the lock below waits for another process's migration, which may rightly be long.
  const client = new pg.Client({ connectionString: target.url, connectionTimeoutMillis: bounds.connectMs });
  client.on('error', () => undefined);
  await client.connect();
  try {
    // The schema engine's own advisory lock: a migration another instance is applying right now is
    // "started, not finished" too, and must not be taken for an interrupted one. Once we hold the
    // lock, an unfinished row can only belong to a process that died (its session, and its lock, with it).
    await client.query(`SELECT pg_advisory_lock(${PRISMA_MIGRATION_LOCK})`);
    const present = await client.query(`SELECT to_regclass('"_prisma_migrations"') IS NOT NULL AS present`);
    if (!present.rows[0]?.present) return [];
    const names = (await client.query<{ name: string }>(UNFINISHED)).rows.map((r) => r.name);
    if (names.length) await client.query(ROLL_BACK);
    return names;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export type MigrationReport = { applied: string[]; repaired: string[] };

/**
 * Applies the committed migrations that the database has not seen yet (`prisma migrate deploy`),
 * after repairing an interrupted one. A new SQLite file is built beside its final name and renamed
 * into place once every migration is in (copy-and-swap): a first start killed half-way leaves no
 * file at the configured path, only a staging file that the next start deletes, so the database
 * file is never empty or half-made because of us, and an empty one is refused (database-check.ts).
 */
export async function migrate(target: DatabaseTarget, bounds: DatabaseBounds = DEFAULT_DATABASE_BOUNDS): Promise<MigrationReport> {
  if (target.provider === 'sqlite' && !existsSync(target.file)) {
    const staging = `${target.file}.initializing`;
    for (const suffix of ['', '-journal', '-wal', '-shm']) rmSync(`${staging}${suffix}`, { force: true });
    const stagingTarget: DatabaseTarget = { provider: 'sqlite', url: `file:${staging}`, file: staging };
    const applied = await deploy(stagingTarget, bounds);
    renameSync(staging, target.file);
    return { applied, repaired: [] };
  }
  // A SQLite file another process holds open is refused in one line (SqliteFileInUse), before the
  // engine tries or, when the other process opened it in between, in place of the engine's error.
  if (target.provider === 'sqlite' && sqliteFileInUse(target.file)) throw new SqliteFileInUse(target.file);
  const repaired = await repairInterruptedMigrations(target, bounds);
  try {
    return { applied: await deploy(target, bounds), repaired };
  } catch (error) {
    if (target.provider === 'sqlite' && sqliteFileInUse(target.file)) throw new SqliteFileInUse(target.file);
    throw error;
  }
}

function deploy(target: DatabaseTarget, bounds: DatabaseBounds): Promise<string[]> {
  return withEngine(target, async (engine) => {
    const result = await engine.applyMigrations({ migrationsList: loadMigrationList(target), filters: noFilters });
    return result.appliedMigrationNames;
  }, bounds);
}

/** migrate(), answering only the names applied (tests and tools that need no more). */
export async function applyMigrations(target: DatabaseTarget, bounds: DatabaseBounds = DEFAULT_DATABASE_BOUNDS): Promise<string[]> {
  return (await migrate(target, bounds)).applied;
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
