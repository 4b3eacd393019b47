import { createCheckpointWriter } from './audit/audit-checkpoints.ts';
import { createAuditService } from './audit/audit-service.ts';
import { createAuditPruner } from './audit/audit-retention.ts';
import { createAuditWriteState } from './audit/audit-write-state.ts';
import { createDenialAggregator } from './audit/denial-aggregator.ts';
import { verifyAuditChain, type VerifyProgress } from './audit/verify-audit-chain.ts';
import type { ChangeFeed } from './changes/change-feed.ts';
import { createLocalChangeFeed, type ClusterLink } from './changes/local-change-feed.ts';
import { createPostgresChangeFeed } from './changes/postgres-change-feed.ts';
import { createRedisChangeFeed } from './changes/redis-change-feed.ts';
import { createSqliteChangeSignal } from './changes/sqlite-change-signal.ts';
import { createClientDirectory } from './clients/client-directory.ts';
import { createClientMetadataSchemas } from './clients/client-metadata-schema.ts';
import { createSecretHasher } from './clients/client-secret.ts';
import { createClientService } from './clients/client-service.ts';
import { createSecretRehash } from './clients/secret-rehash.ts';
import type { Config } from './config/load-config.ts';
import { SIGNING_ALGS } from './config/config-schema.ts';
import { createClientCertificateReader } from './http/middleware/client-certificate.ts';
import { registerDependencyMetrics } from './http/ops/dependency-metrics.ts';
import { registerFeedMetrics } from './http/ops/feed-metrics.ts';
import { createMetrics, type Metrics } from './http/ops/metrics.ts';
import { auditEventRepresentation } from './http/admin/representations.ts';
import type { StoredAuditEvent } from './audit/audit-event.ts';
import { createKeySealer, loadKeyRing } from './keys/key-encryption.ts';
import { createKeyService } from './keys/key-service.ts';
import { createExternalTokenVerifier } from './issuers/external-token-verifier.ts';
import { createTrustedIssuerRegistry } from './issuers/trusted-issuer-registry.ts';
import { createTrustedIssuerService } from './issuers/trusted-issuer-service.ts';
import { createClientLimits } from './limits/client-limits.ts';
import { createIssuanceQuota } from './limits/issuance-quota.ts';
import { rateLimitStore } from './limits/rate-limit-store.ts';
import { createMemoryWindowCounter, type WindowCounterStore } from './limits/window-counter.ts';
import { createClientAuthenticator } from './oauth/client-auth/authenticate-client.ts';
import { createClientAuthMethods, SECRET_AUTH_METHODS } from './oauth/client-auth/index.ts';
import { createRemoteJwksCache } from './oauth/client-auth/remote-jwks.ts';
import { createGrantHandlers } from './oauth/grants/index.ts';
import { createDelegation } from './oauth/token-exchange/delegation.ts';
import { createSubjectTokenReader } from './oauth/token-exchange/subject-token.ts';
import { createTokenEndpoint } from './oauth/token-endpoint.ts';
import { openDatabase } from './persistence/prisma-client.ts';
import { createDatabaseReplayCache } from './persistence/database-replay-cache.ts';
import { createPrismaUnitOfWork } from './persistence/prisma-unit-of-work.ts';
import { createPrismaSettingRepository } from './persistence/prisma-setting-repository.ts';
import { databaseBounds } from './persistence/database-check.ts';
import { createDependencyHealth } from './persistence/dependency-health.ts';
import { connectRedis } from './persistence/redis-connection.ts';
import { createRedisGuard, withCounterFallback, withReplayFallback } from './persistence/redis-fallback.ts';
import { createRedisReplayCache } from './persistence/redis-replay-cache.ts';
import { createRedisWindowCounter } from './persistence/redis-window-counter.ts';
import { systemClock, type Clock } from './shared/clock.ts';
import { logSafe } from './shared/log-safe.ts';
import type { Logger } from './shared/logger.ts';
import { createAccessTokenIssuer } from './tokens/access-token-issuer.ts';
import { createAdminTokenVerifier } from './tokens/admin-token-verifier.ts';
import { createOwnTokenVerifier } from './tokens/own-token-verifier.ts';
import { createTokenInspector } from './tokens/introspection.ts';
import { createIntrospectionResponseSigner } from './tokens/introspection-response-signer.ts';
import { createRevocationList } from './tokens/revocation-list.ts';
import { createRevocationService } from './tokens/revocation-service.ts';
import { createAdminPrivilegeGuard } from './clients/admin-privilege.ts';
import { createCallerAuthentication } from './oauth/authenticated-caller.ts';
import { createIntrospectionEndpoint } from './oauth/introspection-endpoint.ts';
import { createRefusal } from './oauth/refusal.ts';
import { createRevocationEndpoint } from './oauth/revocation-endpoint.ts';
import { createDpopProofChecker, createDpopVerifier } from './tokens/dpop.ts';

/**
 * What the workers of one process share through their primary (cluster mode): window counters when
 * there is no Redis, change notifications when there is neither PostgreSQL nor Redis, and metrics.
 */
export type ProcessShared = { counter: WindowCounterStore; cluster: ClusterLink; clusterMetrics(): Promise<string> };

/**
 * Revocations: every instance re-reads them every REFRESH (the net under a change lost in transit),
 * every POLL while its feed is down, and deletes expired records every PRUNE.
 */
const REVOCATIONS = { refreshMs: 60_000, pollMs: 5_000, pruneMs: 600_000 };

/** Client directory bounds (docs/performance.md): ample for a fleet, small in memory. */
const DIRECTORY = { capacity: 10_000, negativeCapacity: 10_000, ttlMs: 60_000, negativeTtlMs: 5_000 };

/**
 * Builds every service from plain factories, in dependency order; no DI framework. Migrations
 * are applied by the caller (main.ts, tests) before this runs.
 */
export async function createContainer(config: Config, logger: Logger, clock: Clock = systemClock, shared?: ProcessShared) {
  const bounds = databaseBounds(config);
  const databaseHealth = createDependencyHealth('database', logger, config.database.provider === 'sqlite' ? 'database (SQLite)' : 'database (PostgreSQL)');
  const opened = await openDatabase(config.database, bounds);
  // The metrics are made once the directory exists (below); the audit writer reports to them from then on.
  const late: { metrics?: Metrics } = {};
  const auditWrites = createAuditWriteState();
  const uow = createPrismaUnitOfWork(opened, config.database, {
    bounds,
    health: databaseHealth,
    // Export: each stored audit event is also one log line (docs/audit.md); the record holds no secret by construction.
    onAudited: (records) => {
      for (const record of records) logger.info({ audit: true, event: logSafe(auditEventRepresentation(record as StoredAuditEvent)) }, `audit ${record.type}`);
    },
    observeAuditBatch: (batch) => {
      auditWrites.observe(batch);
      late.metrics?.audit.batch(batch);
    },
  });
  // KEY_ENCRYPTION_KEY seals and hashes; KEY_ENCRYPTION_KEYS_PREVIOUS still open and verify (docs/operations.md).
  const ring = loadKeyRing(config);
  const hasher = createSecretHasher(ring);
  const sealer = createKeySealer(ring);
  const audit = createAuditService({ clock });
  const keys = createKeyService({ uow, sealer, audit, clock, config });
  // REDIS_URL: state every instance must share (replay caches, counters, the change feed) lives in Redis.
  const redisHealth = config.redisUrl ? createDependencyHealth('redis', logger, 'Redis') : undefined;
  const redis = config.redisUrl
    ? await connectRedis(config.redisUrl, logger, { connectMs: config.timeouts.redisConnect, commandMs: config.timeouts.redisCommand }, redisHealth, `${config.redisKeyPrefix}service`)
    : undefined;
  // Redis is optional for issuance: its calls fall back to this process's state while it is down.
  const redisGuard = redis && redisHealth ? createRedisGuard(redis, redisHealth, config.timeouts.redisCommand) : undefined;
  const feed: ChangeFeed = opened.driver.provider === 'postgresql'
    ? await createPostgresChangeFeed({
      connectionString: config.database.url,
      connectTimeoutMs: bounds.connectMs,
      notify: async (channel, payload) => {
        await (opened.driver as { pool: import('pg').Pool }).pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
      },
      logger,
    })
    : redis ? await createRedisChangeFeed(redis, logger, { url: config.redisUrl!, connectMs: config.timeouts.redisConnect }, config.redisKeyPrefix) : createLocalChangeFeed(shared?.cluster);
  uow.onCommit((changes) => feed.publish(changes));
  const directory = createClientDirectory({
    load: (id) => uow.stores.clients.findForAuthentication(id),
    loadAll: (limit) => uow.stores.clients.listForAuthentication(limit),
    ...DIRECTORY,
    onError: (error) => logger.warn({ err: error }, 'client directory could not load the clients; lookups read the database'),
  });
  // Trusted issuers are read on the token-exchange path: in memory, reloaded on every change.
  const trustedIssuerRegistry = createTrustedIssuerRegistry({
    loadAll: () => uow.stores.trustedIssuers.listAll(),
    loadOne: (issuer) => uow.stores.trustedIssuers.findByIssuer(issuer),
    onError: (error) => logger.warn({ err: error }, 'trusted issuers could not be loaded; lookups wait for the database'),
  });
  const directoryListener = directory.listener();
  const keysListener = keys.listener();
  const issuersListener = trustedIssuerRegistry.listener();
  feed.subscribe(directoryListener);
  feed.subscribe(keysListener);
  feed.subscribe(issuersListener);
  const revocationList = createRevocationList({
    load: () => uow.stores.revocations.listInForce(clock.now()),
    now: () => clock.now().getTime(),
    onError: (error) => logger.warn({ err: error }, 'revocations could not be read; retrying'),
  });
  const revocationListener = revocationList.listener();
  feed.subscribe(revocationListener);
  // Revocations made elsewhere while the feed is down are read back every pollMs, and in any case every refreshMs.
  let revocationTicks = 0;
  const revocationRefresh = setInterval(() => {
    revocationTicks += 1;
    if (!feed.live || revocationTicks % (REVOCATIONS.refreshMs / REVOCATIONS.pollMs) === 0) void revocationList.refresh();
    if (revocationTicks % (REVOCATIONS.pruneMs / REVOCATIONS.pollMs) === 0) {
      uow.stores.revocations.pruneExpired(clock.now()).catch((error: unknown) => logger.warn({ err: error }, 'expired revocations could not be pruned'));
    }
  }, REVOCATIONS.pollMs);
  revocationRefresh.unref();
  // The safety net for a notification lost in transit: a full reload every TTL.
  const directoryRefresh = setInterval(() => {
    void directory.warm();
    void trustedIssuerRegistry.refresh();
  }, DIRECTORY.ttlMs);
  directoryRefresh.unref();
  // SQLite: changes by other processes on the same file (the command line, other workers).
  const sqliteSignal = opened.driver.provider === 'sqlite'
    ? createSqliteChangeSignal(opened.db, uow.gate, () => {
      directoryListener.reset(feed.live);
      keysListener.reset(true);
      issuersListener.reset(feed.live);
      revocationListener.reset(true);
    })
    : undefined;
  if (sqliteSignal) uow.onCommit(() => sqliteSignal.announce());

  const replay = redis && redisGuard
    ? withReplayFallback(redisGuard, createRedisReplayCache(redis, clock, `${config.redisKeyPrefix}replay:`), clock)
    : createDatabaseReplayCache(opened, uow.gate, clock);
  const localCounter = shared?.counter ?? createMemoryWindowCounter();
  const counter = redis && redisGuard ? withCounterFallback(redisGuard, createRedisWindowCounter(redis, `${config.redisKeyPrefix}count:`), localCounter) : localCounter;
  // The service clock, like every other expiry here, so cache lifetimes and the cool-down follow it.
  const remoteJwks = createRemoteJwksCache({
    timeoutMs: 3000, ttlMs: 300_000, cooldownMs: 30_000, maxBytes: 65_536, allowInsecure: config.allowInsecureJwksUri, now: () => clock.now().getTime(),
  });
  // Same jwks_uri cache as private_key_jwt: the same limits, cache lifetime and unknown-kid cool-down.
  const externalTokens = createExternalTokenVerifier({ issuers: trustedIssuerRegistry, remoteJwks });
  const methods = createClientAuthMethods({
    hasher, clock, replay, remoteJwks, externalTokens, trustAnchors: config.clientCaCertificates, config, onStaleHash: createSecretRehash({ clients: uow.stores.clients, logger }),
  });
  const metrics = createMetrics({
    directory, shareWithPrimary: shared !== undefined, denialReasons: config.metricsPort !== undefined, topClients: config.metricsTopClients, now: () => clock.now(),
    keyTimes: () => {
      const active = keys.activeSigningKey() && keys.list().find((k) => k.state === 'active');
      if (!active) return undefined;
      const activatedAt = active.activatedAt ?? active.createdAt;
      return { activatedAt, rotationDueAt: new Date(activatedAt.getTime() + config.keyRotationInterval * 1000) };
    },
  });
  late.metrics = metrics;
  const dependencies = redisHealth ? [databaseHealth, redisHealth] : [databaseHealth];
  registerDependencyMetrics(metrics.registry, dependencies);
  registerFeedMetrics(metrics.registry, feed);
  const denials = config.audit.denialWindow > 0
    ? createDenialAggregator({
      windowMs: config.audit.denialWindow * 1000,
      now: () => clock.now(),
      store: (entry, sourceAddress) => audit.record(uow.stores.audit, { requestId: 'denial-aggregation', sourceAddress }, entry),
      onError: (error) => logger.error({ err: error }, 'the count of repeated token refusals could not be stored'),
    })
    : undefined;
  const denialSweep = denials && setInterval(() => void denials.sweep(), Math.min(config.audit.denialWindow * 1000, 10_000));
  denialSweep?.unref();
  const auditCheckpoints = createCheckpointWriter({ db: opened.db, gate: uow.gate, clock, issuer: config.issuer, activeKey: () => keys.activeSigningKey() });
  const now = () => clock.now();
  const verifyOwnToken = createOwnTokenVerifier({ keys, clock, config, isRevoked: revocationList.isRevoked });
  const subjectTokens = createSubjectTokenReader({ verifyOwnToken, externalTokens, now, config });
  const delegation = createDelegation({ now, config: { issuer: config.issuer, maxChainDepth: config.tokenExchangeMaxDepth, txnTrustDomain: config.txnTrustDomain } });
  const grants = createGrantHandlers({
    tokenExchange: {
      read: subjectTokens, delegation, config: { issuer: config.issuer, maxChainDepth: config.tokenExchangeMaxDepth, txnTrustDomain: config.txnTrustDomain },
    },
    jwtBearer: { read: subjectTokens, delegation },
  });
  const authenticateClient = createClientAuthenticator({ methods, clients: directory });
  const limits = createClientLimits({
    counter, issuedPerClient: config.rateLimits.tokenPerClient, secretFailuresPerPair: config.rateLimits.authFailures,
  });
  const tokenEndpoint = createTokenEndpoint({
    denials,
    quota: createIssuanceQuota({ counter, perHour: config.tokenQuota.perHour, perDay: config.tokenQuota.perDay }),
    grants,
    authenticateClient,
    issuer: createAccessTokenIssuer({ keys, clock, config }),
    audit,
    auditLog: uow.stores.audit,
    verifyDpopProof: createDpopVerifier({ clock, replay, config }),
    limits,
    metrics: metrics.tokens,
    onUnexpectedError: (error, context) => logger.error({ err: error, requestId: context.requestId, route: '/token' }, 'unexpected error on POST /token'),
  });
  const schemas = createClientMetadataSchemas({
    authMethods: methods.map((m) => m.name),
    grantTypes: grants.map((g) => g.grantType),
    maxAccessTokenTtl: config.maxAccessTokenTtl,
    issuer: config.issuer,
    txnTrustDomain: config.txnTrustDomain,
    adminAudience: config.adminAudience,
  });
  const clients = createClientService({
    uow, schemas, hasher, audit, clock, secretMethods: SECRET_AUTH_METHODS, allowInsecureJwksUri: config.allowInsecureJwksUri, adminAudience: config.adminAudience,
  });
  const trustedIssuers = createTrustedIssuerService({ uow, audit, rules: { ownIssuer: config.issuer, allowInsecure: config.allowInsecureJwksUri } });
  const verifyAdminToken = createAdminTokenVerifier({
    keys, clients: { findById: async (id) => (await directory.find(id))?.client }, dpop: createDpopProofChecker({ clock, replay }), clock, config,
    isRevoked: revocationList.isRevoked,
  });
  // RFC 7662 / RFC 7009: the token endpoint's authentication, limits and refusal path, each its own audit event.
  const authenticateCaller = createCallerAuthentication({ authenticateClient, limits });
  const refusalDeps = (path: string) => ({
    audit, auditLog: uow.stores.audit, limits,
    onUnexpectedError: (error: unknown, context: { requestId: string }) => logger.error({ err: error, requestId: context.requestId }, `unexpected error on POST ${path}`),
  });
  const introspection = createIntrospectionEndpoint({
    authenticateCaller,
    inspectToken: createTokenInspector({ verifyOwnToken, clients: directory }),
    signResponse: createIntrospectionResponseSigner({ keys, clock, config }),
    audit,
    auditLog: uow.stores.audit,
    refuse: createRefusal(refusalDeps('/introspect'), 'token.introspected'),
  });
  const revocation = createRevocationEndpoint({
    authenticateCaller, verifyOwnToken, uow, audit, refuse: createRefusal(refusalDeps('/revoke'), 'token.revoked'),
  });
  const revocations = createRevocationService({
    uow, audit, clock, guard: createAdminPrivilegeGuard(config), maxTokenLifetimeSeconds: config.maxAccessTokenTtl,
  });
  return {
    config,
    logger,
    clock,
    uow,
    settings: createPrismaSettingRepository(opened.db, uow.gate),
    audit,
    keys,
    sealer,
    hasher,
    methods,
    metrics,
    /** /metrics: this process's registry, or every worker's added up by the primary. */
    renderMetrics: shared ? () => shared.clusterMetrics() : () => metrics.registry.metrics(),
    feed,
    directory,
    dependencies,
    /** Optional dependencies down right now, for /readyz (they do not make the service unready). */
    degradedDependencies: () => (redisGuard && !redisGuard.check() ? ['redis'] : []),
    /** The audit store refused a write of this process within the hold (audit-write-state.ts), for /readyz. */
    auditRefusedRecently: () => auditWrites.refusedRecently(),
    grants,
    verifyOwnToken,
    tokenEndpoint,
    /** Prisma Client on the database (the audit maintenance jobs read it directly). */
    db: opened.db,
    auditCheckpoints,
    auditPruner: createAuditPruner({ db: opened.db, gate: uow.gate, clock, retentionSeconds: config.audit.retention, checkpoints: auditCheckpoints }),
    denials,
    /** Recomputes the audit chain (docs/audit.md) against the keys of this database. */
    verifyAudit: (onProgress?: (progress: VerifyProgress) => void) => verifyAuditChain(opened.db, { run: (query) => uow.gate.run(query), ...(onProgress && { onProgress }) }),
    clients,
    /** Admin use cases of /admin/trusted-issuers. */
    trustedIssuers,
    trustedIssuerRegistry,
    /** Verifies JWTs of registered external issuers (token exchange, federated client assertions). */
    externalTokens,
    verifyAdminToken,
    revocationList,
    revocations,
    introspection,
    revocation,
    rateLimitStore: (name: string) => rateLimitStore(counter, `${name}:`),
    readCertificate: createClientCertificateReader(config),
    signingAlgs: SIGNING_ALGS,
    async close() {
      clearInterval(directoryRefresh);
      if (denialSweep) clearInterval(denialSweep);
      // Counts of refusals still in their window are stored before the database closes.
      await denials?.sweep(true);
      clearInterval(revocationRefresh);
      sqliteSignal?.close();
      await feed.close();
      await uow.close();
      if (redis?.isOpen) await redis.close();
    },
  };
}

export type Container = Awaited<ReturnType<typeof createContainer>>;
