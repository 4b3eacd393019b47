/**
 * `npm run migrate`: what start-up does before serving, on its own: checks that the database answers
 * and is this service's own, repairs a migration that an earlier process was killed in the middle
 * of (recorded as started, never committed: set rolled back, applied again), and applies the
 * migrations not yet applied. One line per outcome; exit code 1 with one line naming the cause.
 */
import { ConfigError, loadConfig } from '../src/config/load-config.ts';
import { checkDatabase, databaseBounds } from '../src/persistence/database-check.ts';
import { migrate } from '../src/persistence/migrations.ts';

async function main(): Promise<void> {
  const config = loadConfig();
  const bounds = databaseBounds(config);
  await checkDatabase(config.database, bounds);
  const { applied, repaired } = await migrate(config.database, bounds);
  for (const name of repaired) process.stdout.write(`repaired interrupted migration ${name} (nothing of it had been committed)\n`);
  for (const name of applied) process.stdout.write(`applied ${name}\n`);
  if (!applied.length && !repaired.length) process.stdout.write('the database is up to date\n');
}

main().catch((error: unknown) => {
  const prefix = error instanceof ConfigError ? 'configuration error: ' : '';
  process.stderr.write(`migrate: ${prefix}${error instanceof Error ? error.message.split('\n')[0] : String(error)}\n`);
  process.exit(1);
});
