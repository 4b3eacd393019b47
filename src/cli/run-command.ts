import type { Config } from '../config/load-config.ts';
import { ConfigError } from '../config/load-config.ts';
import { createContainer, type Container } from '../container.ts';
import { DomainError } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';

/**
 * The services on the configured database, closed after `work`. No migrations: the service applies
 * them at start-up, and on SQLite Prisma's schema engine locks the file exclusively, which fails
 * while the service holds it open.
 */
export async function withContainer<T>(config: Config, work: (container: Container) => Promise<T>): Promise<T> {
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
