import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { buildApp } from './app.ts';
import { ensureBootstrapAdmin, type BootstrapResult } from './clients/bootstrap-admin.ts';
import { followIssuer } from './clients/issuer-change.ts';
import type { Config } from './config/load-config.ts';
import { createContainer, type Container, type ProcessShared } from './container.ts';
import { reportKeyEncryptionKeyUse } from './keys/kek-rewrap.ts';
import { startKeyRotationScheduler } from './keys/key-rotation-scheduler.ts';
import { startCheckpointTimer } from './audit/audit-checkpoints.ts';
import { startPruneTimer } from './audit/audit-retention.ts';
import { adoptUnchainedEvents } from './audit/adopt-unchained-events.ts';
import { startMetricsServer } from './http/ops/metrics-server.ts';
import { checkDatabase, databaseBounds } from './persistence/database-check.ts';
import { migrate } from './persistence/migrations.ts';
import type { Clock } from './shared/clock.ts';
import type { Logger } from './shared/logger.ts';

export type RunningService = {
  container: Container;
  server: http.Server;
  url: string;
  bootstrap: BootstrapResult;
  /** The port of the METRICS_PORT listener, when there is one. */
  metricsPort: number | undefined;
  /**
   * Stops accepting connections, lets in-flight requests finish, closes the database, all within
   * timeoutMs (SHUTDOWN_TIMEOUT) whatever the database does. Requests still in flight near the end
   * are answered 503; resolves false when that happened or the database did not close in time.
   */
  stop(timeoutMs?: number): Promise<boolean>;
};

/** The last part of SHUTDOWN_TIMEOUT, kept for answering what is still in flight and closing the database. */
const SHUTDOWN_CLOSE_SHARE_MS = 1000;

/** Resolves true when `work` settles before `deadline` (epoch ms), false when time runs out first. */
function settlesBefore(work: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work.then(() => true, () => true),
    new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now())); }),
  ]).finally(() => clearTimeout(timer));
}

const SHUTDOWN_ANSWER = JSON.stringify({ error: 'temporarily_unavailable', error_description: 'the service is shutting down; retry' });

/** Migrations (after repairing an interrupted one), each step bounded, each outcome logged once. */
async function migrateDatabase(config: Config, logger: Logger): Promise<void> {
  const { applied, repaired } = await migrate(config.database, databaseBounds(config));
  if (repaired.length) logger.warn({ migrations: repaired }, 'interrupted migrations found (recorded as started, never committed); applying them again');
  if (applied.length) logger.info({ migrations: applied }, 'database migrations applied');
}

/** Node's own limits, set so slow or oversized requests cannot hold the server (ASVS 2.4.1). */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const KEEP_ALIVE_TIMEOUT_MS = 65_000;
const MAX_HEADER_BYTES = 16 * 1024;
/** How often Node enforces the two timeouts above; its 30 s default let a slow-header client hold a connection for 40 s, not 10. */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

export type StartOptions = {
  /**
   * Apply migrations first (default). A cluster worker or a second instance on one SQLite file
   * skips them: the first process migrated, and the schema engine locks a SQLite file exclusively.
   */
  migrate?: boolean;
  /** State shared with the other workers of this process (cluster mode without Redis). */
  shared?: ProcessShared;
};

/**
 * Once per deployment start, after the key set has loaded (so every stored private key opened):
 * says what the configured key-encryption keys still protect, so an operator sees when a previous
 * key can go and which secrets stopped working because theirs went. Reads only.
 */
async function checkKeyEncryptionKeys(container: Container, logger: Logger): Promise<void> {
  const report = await reportKeyEncryptionKeyUse({ uow: container.uow, sealer: container.sealer, clock: container.clock });
  for (const use of report.keys) {
    if (use.role === 'missing' && use.secretHashes > 0) {
      logger.warn({ kek: use.kekId, secretHashes: use.secretHashes }, 'client secret hashes were made under a key-encryption key that is no longer configured: those secrets no longer authenticate; rotate them');
    }
    if (use.role === 'previous') {
      logger.info({ kek: use.kekId, signingKeys: use.signingKeys.length, secretHashes: use.secretHashes, legacySecretHashes: report.legacySecretHashes },
        use.signingKeys.length || use.secretHashes || report.legacySecretHashes
          ? 'a previous key-encryption key still protects stored data: see `keys kek-status`'
          : 'a previous key-encryption key protects nothing any more: it can be removed from KEY_ENCRYPTION_KEYS_PREVIOUS');
    }
  }
}

/**
 * The work done once per deployment start, before any worker serves: migrations, the signing key
 * set, the bootstrap admin. Cluster mode runs it in the primary (so workers never race the schema
 * engine for a SQLite file); a single process does the same inside startService.
 */
export async function prepareDeployment(config: Config, logger: Logger): Promise<BootstrapResult> {
  await checkDatabase(config.database, databaseBounds(config));
  await migrateDatabase(config, logger);
  const container = await createContainer(config, logger);
  try {
    const adopted = await adoptUnchainedEvents(container.db, container.uow.gate);
    if (adopted) logger.info({ audit_adopted: adopted }, 'audit events stored before the chain existed were chained');
    await container.keys.load();
    await checkKeyEncryptionKeys(container, logger);
    return await ensureBootstrapAdmin({ clients: container.uow.stores.clients, service: container.clients, config });
  } finally {
    await container.close();
  }
}

/** migrate → build services → signing key → bootstrap admin → listen. Shared by main.ts and the tests. */
export async function startService(config: Config, logger: Logger, clock?: Clock, options: StartOptions = {}): Promise<RunningService> {
  // Start-up never hangs and never guesses: the database answers within its bound and is ours (or new).
  await checkDatabase(config.database, databaseBounds(config));
  if (options.migrate !== false) await migrateDatabase(config, logger);
  const container = await createContainer(config, logger, clock, options.shared);
  // Set once listening: a start-up that fails after that (METRICS_PORT taken) closes it again.
  let listening: http.Server | undefined;
  try {
    if (options.migrate !== false) {
      const adopted = await adoptUnchainedEvents(container.db, container.uow.gate);
      if (adopted) logger.info({ audit_adopted: adopted }, 'audit events stored before the chain existed were chained');
    }
    await container.keys.load();
    if (options.migrate !== false) await checkKeyEncryptionKeys(container, logger);
    await followIssuer({ settings: container.settings, uow: container.uow, audit: container.audit, logger, config });
    const bootstrap = await ensureBootstrapAdmin({ clients: container.uow.stores.clients, service: container.clients, config });
    await container.directory.warm();
    // Not before its revocations are known: a revoked token must not pass while they load.
    await container.revocationList.load();
    await container.trustedIssuerRegistry.warm();
    const limits = {
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      maxHeaderSize: MAX_HEADER_BYTES,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    };
    // Contract §2: the handshake asks for a client certificate but neither requires one nor rejects
    // an untrusted one, so a missing or bad certificate gets an OAuth invalid_client, not a TLS alert.
    const server: http.Server = config.tls
      ? https.createServer({
        ...limits,
        cert: config.tls.cert,
        key: config.tls.key,
        requestCert: true,
        rejectUnauthorized: false,
        // Node's default 120 s lets a silent client hold a socket through the handshake (ASVS 2.4.1).
        handshakeTimeout: config.tlsHandshakeTimeout * 1000,
        ...(config.clientCaCertificates.length && { ca: config.clientCaCertificates.map((c) => c.toString()) }),
      })
      : http.createServer(limits);
    // Beyond the cap, new connections are closed at once (MAX_CONNECTIONS; 0 = none).
    if (config.maxConnections > 0) server.maxConnections = config.maxConnections;
    // server.close() ends only the connections idle at that moment; a keep-alive connection whose
    // request is still in flight would then sit idle until the shutdown timeout. Once stopping, every
    // unsent response carries `Connection: close` instead, so shutdown ends when the last one is sent.
    let stopping = false;
    const unsent = new Set<http.ServerResponse>();
    server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
      if (stopping) res.shouldKeepAlive = false;
      unsent.add(res);
      res.once('close', () => unsent.delete(res));
    });
    server.on('request', buildApp(container));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, resolve);
    });
    listening = server;
    // A cluster worker leaves METRICS_PORT to its primary, which serves every worker's figures there.
    const metricsServer = config.metricsPort !== undefined && !options.shared
      ? await startMetricsServer({ port: config.metricsPort, host: config.host, render: () => container.metrics.registry.metrics() })
      : undefined;
    const scheduler = startKeyRotationScheduler(container.keys, config.keySyncInterval, logger);
    const pruning = startPruneTimer(container.auditPruner, {
      intervalMs: 3_600_000,
      initialDelayMs: 60_000,
      onResult: (r) => {
        if (r.refused) logger.error({ audit_prune: r.refused }, 'audit retention did not prune');
        else if (r.deleted) logger.info({ audit_prune: { deleted: r.deleted, anchor: String(r.anchor) } }, 'audit events past retention pruned');
      },
      onError: (error) => logger.warn({ err: error }, 'audit retention could not prune; retrying at the next interval'),
    });
    const checkpoints = startCheckpointTimer(container.auditCheckpoints, config.audit.checkpointInterval, (error) => logger.warn({ err: error }, 'the audit chain head could not be signed; retrying at the next interval'));
    const { port } = server.address() as AddressInfo;
    const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
    return {
      container,
      server,
      url: `${config.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`,
      bootstrap,
      metricsPort: metricsServer?.port,
      async stop(timeoutMs = config.shutdownTimeout * 1000) {
        const deadline = Date.now() + timeoutMs;
        const drainUntil = deadline - Math.min(SHUTDOWN_CLOSE_SHARE_MS, timeoutMs / 4);
        stopping = true;
        for (const res of unsent) if (!res.headersSent) res.shouldKeepAlive = false;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        // A rotation, a checkpoint or a prune in progress may be waiting on the database too: they get the same bound.
        const timersStopped = Promise.all([scheduler.stop(), checkpoints.stop(), pruning.stop()]);
        void metricsServer?.close();
        let clean = await settlesBefore(Promise.all([closed, timersStopped]), drainUntil);
        if (!clean) {
          const late = [...unsent].filter((res) => !res.headersSent);
          logger.error({ inFlight: late.length }, 'SHUTDOWN_TIMEOUT reached: answering 503 to the requests still in flight');
          for (const res of late) {
            res.writeHead(503, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Retry-After': '1', Connection: 'close' }).end(SHUTDOWN_ANSWER);
          }
          // Each 503 is written; then every connection still open is closed.
          await new Promise((resolve) => setImmediate(resolve));
          server.closeAllConnections();
        }
        if (!(await settlesBefore(container.close(), deadline))) {
          logger.error('SHUTDOWN_TIMEOUT reached: the database connections did not close in time');
          clean = false;
        }
        return clean;
      },
    };
  } catch (error) {
    if (listening) await new Promise((resolve) => listening!.close(resolve));
    await container.close();
    throw error;
  }
}
