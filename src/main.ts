import cluster from 'node:cluster';
import { createIpcWindowCounter, createPrimaryClient } from './cluster/ipc.ts';
import { startPrimary, WORKER_ENV } from './cluster/primary.ts';
import type { BootstrapResult } from './clients/bootstrap-admin.ts';
import { writeBootstrapSecretFile } from './clients/bootstrap-secret-file.ts';
import { loadConfigOrExit, type Config } from './config/load-config.ts';
import { startMetricsServer } from './http/ops/metrics-server.ts';
import { prepareDeployment, startService } from './server.ts';
import { createLogger, type Logger } from './shared/logger.ts';

/** How much earlier than SHUTDOWN_TIMEOUT a cluster worker ends its own shutdown. */
const WORKER_SHUTDOWN_MARGIN_MS = 300;
/** The hard exit comes at the bound itself: only a shutdown that got stuck meets it. */
const HARD_EXIT_SLACK_MS = 0;

function announceBootstrap(bootstrap: BootstrapResult, config: Config, logger: Logger): void {
  if (!bootstrap.created || !bootstrap.generatedSecret) return;
  // Kept in a 0600 file and shown once on stderr: never on stdout, where the JSON log stream goes.
  let file: string | undefined;
  try {
    file = writeBootstrapSecretFile(config.keysDir, bootstrap.generatedSecret);
  } catch (error) {
    logger.warn({ keysDir: config.keysDir, code: (error as NodeJS.ErrnoException).code }, 'the bootstrap admin secret could not be written to KEYS_DIR; it is on stderr only');
  }
  process.stderr.write(
    `\nBootstrap admin client "${bootstrap.clientId}" created. Its secret is shown only this once${file ? ` (and kept in ${file}, mode 0600: delete it once stored)` : ''}:\n` +
    `  ${bootstrap.generatedSecret}\n\n`,
  );
}

/**
 * The signals run `stop` once, then exit with its code. `hardBoundMs` is the last word: whatever
 * `stop` is still waiting for (a database that hangs, a start-up still under way), the process exits
 * non-zero then.
 */
function onSignals(logger: Logger, stop: () => Promise<number>, hardBoundMs: number, signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): void {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    setTimeout(() => {
      logger.error('shutdown did not finish within SHUTDOWN_TIMEOUT; exiting');
      process.exit(1);
    }, hardBoundMs).unref();
    stop().then(
      (code) => process.exit(code),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  for (const signal of signals) process.on(signal, () => shutdown(signal));
}

/** One process serving the port (WEB_CONCURRENCY=1), or one cluster worker. */
async function serve(config: Config, logger: Logger, worker: boolean): Promise<void> {
  // Handlers first: a SIGTERM that arrives while the service is still starting stops it once it has started.
  let service: Awaited<ReturnType<typeof startService>> | undefined;
  let started!: () => void;
  const ready = new Promise<void>((resolve) => {
    started = resolve;
  });
  // In a worker, SIGINT comes to the whole process group at once: the primary orders the stop.
  if (worker) process.on('SIGINT', () => undefined);
  // A worker keeps a little of the bound back, so its primary (which kills at SHUTDOWN_TIMEOUT) sees it exit by itself.
  const boundMs = Math.max(0, config.shutdownTimeout * 1000 - (worker ? WORKER_SHUTDOWN_MARGIN_MS : 0));
  const startedAt = { at: 0 };
  onSignals(logger, async () => {
    startedAt.at = Date.now();
    await ready;
    if (!service) return 1;
    return (await service.stop(Math.max(0, boundMs - (Date.now() - startedAt.at)))) ? 0 : 1;
  }, boundMs + HARD_EXIT_SLACK_MS, worker ? ['SIGTERM'] : ['SIGTERM', 'SIGINT']);
  const ask = worker ? createPrimaryClient() : undefined;
  try {
    service = await startService(config, logger, undefined, ask
      ? {
        migrate: false,
        shared: {
          counter: createIpcWindowCounter(ask),
          cluster: { channel: process, relay: (change: string) => ask({ op: 'change.relay', change }) },
          clusterMetrics: () => ask<string>({ op: 'metrics' }),
        },
      }
      : {});
  } finally {
    started();
  }
  if (!worker) {
    announceBootstrap(service.bootstrap, config, logger);
    logger.info({ url: service.url, issuer: config.issuer, database: config.database.provider }, 'identity-backend listening');
  }
}

/** WEB_CONCURRENCY > 1: the one-time work here, then the workers (src/cluster/primary.ts). */
async function runPrimary(config: Config, logger: Logger): Promise<void> {
  announceBootstrap(await prepareDeployment(config, logger), config, logger);
  const primary = startPrimary({
    workers: config.webConcurrency,
    logger,
    onListening: (port) => logger.info({
      url: `${config.tls ? 'https' : 'http'}://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`, issuer: config.issuer, database: config.database.provider, workers: config.webConcurrency,
    }, 'identity-backend listening'),
  });
  // METRICS_PORT belongs to the primary: it adds up every worker's figures.
  const metricsServer = config.metricsPort === undefined ? undefined
    : await startMetricsServer({ port: config.metricsPort, host: config.host, render: () => primary.clusterMetrics() });
  onSignals(logger, async () => {
    void metricsServer?.close();
    return primary.stop(config.shutdownTimeout * 1000);
  }, config.shutdownTimeout * 1000 + HARD_EXIT_SLACK_MS);
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel);
  const worker = cluster.isWorker && process.env[WORKER_ENV] === '1';
  if (!worker && config.webConcurrency > 1) await runPrimary(config, logger);
  else await serve(config, logger, worker);
}

main().catch((error: unknown) => {
  process.stderr.write(`identity-backend: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
