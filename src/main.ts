import { ConfigError, loadConfig } from './config/load-config.ts';
import { writeBootstrapSecretFile } from './clients/bootstrap-secret-file.ts';
import { startService } from './server.ts';
import { createLogger } from './shared/logger.ts';

async function main(): Promise<void> {
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
  const service = await startService(config, logger);
  if (service.bootstrap.created && service.bootstrap.generatedSecret) {
    // Kept in a 0600 file and shown once on stderr: never on stdout, where the JSON log stream goes.
    let file: string | undefined;
    try {
      file = writeBootstrapSecretFile(config.keysDir, service.bootstrap.generatedSecret);
    } catch (error) {
      logger.warn({ keysDir: config.keysDir, code: (error as NodeJS.ErrnoException).code }, 'the bootstrap admin secret could not be written to KEYS_DIR; it is on stderr only');
    }
    process.stderr.write(
      `\nBootstrap admin client "${service.bootstrap.clientId}" created. Its secret is shown only this once${file ? ` (and kept in ${file}, mode 0600: delete it once stored)` : ''}:\n` +
      `  ${service.bootstrap.generatedSecret}\n\n`,
    );
  }
  logger.info({ url: service.url, issuer: config.issuer, database: config.database.provider }, 'identity-backend listening');

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    service.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`identity-backend: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
