import { ConfigError, loadConfig } from './config/load-config.ts';
import { applyMigrations } from './persistence/migrations.ts';
import { createLogger } from './shared/logger.ts';

/**
 * `node dist/migrate.js`: applies the committed migrations with the service's own configuration,
 * then exits (0 done, 1 failed) — the init step of the Kubernetes kit in deploy/. Several pods may
 * run it at once: on PostgreSQL the schema engine migrates under an advisory lock.
 */
async function migrate(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`identity-backend: configuration error: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  const applied = await applyMigrations(config.database);
  logger.info({ migrations: applied, database: config.database.provider }, applied.length ? 'database migrations applied' : 'database schema up to date');
}

migrate().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`identity-backend: migration failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
