import { loadConfigOrExit } from './config/load-config.ts';
import { checkDatabase, databaseBounds } from './persistence/database-check.ts';
import { migrate as applyMigrations } from './persistence/migrations.ts';
import { createLogger } from './shared/logger.ts';

/**
 * `node dist/migrate.js`: applies the committed migrations with the service's own configuration,
 * then exits (0 done, 1 failed) — the init step of the Kubernetes kit in deploy/. Several pods may
 * run it at once: on PostgreSQL the schema engine migrates under an advisory lock.
 */
async function migrate(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel);
  // As start-up does: the database answers within its bound and is ours; an interrupted migration is repaired first.
  const bounds = databaseBounds(config);
  await checkDatabase(config.database, bounds);
  const { applied, repaired } = await applyMigrations(config.database, bounds);
  if (repaired.length) logger.warn({ migrations: repaired }, 'interrupted migrations found (recorded as started, never committed); applying them again');
  logger.info({ migrations: applied, database: config.database.provider }, applied.length ? 'database migrations applied' : 'database schema up to date');
}

migrate().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`identity-backend: migration failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
