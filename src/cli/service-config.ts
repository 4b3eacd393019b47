import { CliError, EXIT } from './exit-codes.ts';
import type { Config } from '../config/load-config.ts';

/**
 * The service's own configuration, for the commands that work on the database: read from the
 * environment by load-config.ts exactly as the service reads it. A bad value is the service's one
 * line naming the variable.
 */
export async function serviceConfig(): Promise<Config> {
  const { ConfigError, loadConfig } = await import('../config/load-config.ts');
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(`configuration error: ${error.message}`, EXIT.failed);
    throw error;
  }
}
