import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/load-config.ts';
import { ConfigError } from '../config/load-config.ts';
import type { Container } from '../container.ts';
import { DomainError } from '../shared/errors.ts';

/**
 * The services on the configured database, closed after `work`. No migrations: the service applies
 * them at start-up, and on SQLite Prisma's schema engine locks the file exclusively, which fails
 * while the service holds it open.
 */
export async function withContainer<T>(config: Config, work: (container: Container) => Promise<T>): Promise<T> {
  // Loaded here, not above: `identity-backend` commands that talk HTTP never pay for the database layer.
  const [{ createContainer }, { createLogger }] = await Promise.all([import('../container.ts'), import('../shared/logger.ts')]);
  const container = await createContainer(config, createLogger('warn'));
  try {
    return await work(container);
  } finally {
    await container.close();
  }
}

/** Runs a command line's `run` and exits with its code; a failure is one line on stderr, without a stack. */
export function runCommand(name: string, run: (argv: string[]) => Promise<number>): void {
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      const known = error instanceof ConfigError || error instanceof DomainError;
      process.stderr.write(`${name}: ${known ? (error as Error).message : String(error)}\n`);
      process.exit(1);
    },
  );
}

/**
 * Whether the module at `moduleUrl` is the script node was started with: keys.ts and admin.ts are
 * commands of their own (`node dist/cli/keys.js`) and also libraries of `identity-backend`.
 */
export function isEntryPoint(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}
