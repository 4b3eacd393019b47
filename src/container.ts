import { createAuditService } from './audit/audit-service.ts';
import { createClientMetadataSchemas } from './clients/client-metadata-schema.ts';
import { createSecretHasher } from './clients/client-secret.ts';
import { createClientService } from './clients/client-service.ts';
import type { Config } from './config/load-config.ts';
import { SIGNING_ALGS } from './config/config-schema.ts';
import { createAuthFailureLimiter } from './http/middleware/auth-failure-limiter.ts';
import { createMetrics } from './http/ops/metrics.ts';
import { createKeySealer, loadOrCreateKeyEncryptionKey } from './keys/key-encryption.ts';
import { createKeyService } from './keys/key-service.ts';
import { createClientAuthenticator } from './oauth/client-auth/authenticate-client.ts';
import { createClientAuthMethods, SECRET_AUTH_METHODS } from './oauth/client-auth/index.ts';
import { grantHandlers } from './oauth/grants/index.ts';
import { createTokenEndpoint } from './oauth/token-endpoint.ts';
import { createPrismaClient } from './persistence/prisma-client.ts';
import { createPrismaUnitOfWork } from './persistence/prisma-unit-of-work.ts';
import { createPrismaReplayCache } from './persistence/prisma-replay-cache.ts';
import { createRemoteJwksCache } from './oauth/client-auth/remote-jwks.ts';
import { createDpopVerifier } from './tokens/dpop.ts';
import { connectRedis } from './persistence/redis-connection.ts';
import { createRedisReplayCache } from './persistence/redis-replay-cache.ts';
import { createRedisFailureStore } from './persistence/redis-failure-store.ts';
import { createRedisRateLimitStore } from './persistence/redis-rate-limit-store.ts';
import { createClientCertificateReader } from './http/middleware/client-certificate.ts';
import { systemClock, type Clock } from './shared/clock.ts';
import type { Logger } from './shared/logger.ts';
import { createAccessTokenIssuer } from './tokens/access-token-issuer.ts';
import { createAdminTokenVerifier } from './tokens/admin-token-verifier.ts';

/**
 * Builds every service from plain factories, in dependency order; no DI framework. Migrations
 * are applied by the caller (main.ts, tests) before this runs.
 */
export async function createContainer(config: Config, logger: Logger, clock: Clock = systemClock) {
  const db = await createPrismaClient(config.database);
  const uow = createPrismaUnitOfWork(db, config.database);
  const kek = loadOrCreateKeyEncryptionKey(config.keyEncryptionKey, config.keysDir);
  const hasher = createSecretHasher(kek);
  const audit = createAuditService({ clock });
  const keys = createKeyService({ uow, sealer: createKeySealer(kek), audit, clock, config });
  // REDIS_URL: state every instance must share (replay caches, rate-limit counters) lives in Redis.
  const redis = config.redisUrl ? await connectRedis(config.redisUrl, logger) : undefined;
  const replay = redis ? createRedisReplayCache(redis, clock) : createPrismaReplayCache(db, uow.gate, clock);
  // The service clock, like every other expiry here, so cache lifetimes and the cool-down follow it.
  const remoteJwks = createRemoteJwksCache({
    timeoutMs: 3000, ttlMs: 300_000, cooldownMs: 30_000, maxBytes: 65_536, allowInsecure: config.allowInsecureJwksUri, now: () => clock.now().getTime(),
  });
  const methods = createClientAuthMethods({ hasher, clock, replay, remoteJwks, trustAnchors: config.clientCaCertificates, config });
  const metrics = createMetrics();
  const tokenEndpoint = createTokenEndpoint({
    grants: grantHandlers,
    methods,
    authenticateClient: createClientAuthenticator({ methods, clients: uow.stores.clients }),
    issuer: createAccessTokenIssuer({ keys, clock, config }),
    audit,
    auditLog: uow.stores.audit,
    verifyDpopProof: createDpopVerifier({ clock, replay, config }),
    metrics: metrics.tokens,
  });
  const schemas = createClientMetadataSchemas({
    authMethods: methods.map((m) => m.name),
    grantTypes: grantHandlers.map((g) => g.grantType),
    maxAccessTokenTtl: config.maxAccessTokenTtl,
    issuer: config.issuer,
  });
  const clients = createClientService({
    uow, schemas, hasher, audit, clock, secretMethods: SECRET_AUTH_METHODS, allowInsecureJwksUri: config.allowInsecureJwksUri,
  });
  const verifyAdminToken = createAdminTokenVerifier({ keys, clients: uow.stores.clients, clock, config });
  return {
    config,
    logger,
    clock,
    uow,
    audit,
    keys,
    methods,
    metrics,
    tokenEndpoint,
    clients,
    verifyAdminToken,
    authFailures: createAuthFailureLimiter(config.rateLimits.authFailures, redis ? createRedisFailureStore(redis) : undefined),
    rateLimitStore: (name: string) => (redis ? createRedisRateLimitStore(redis, name) : undefined),
    readCertificate: createClientCertificateReader(config),
    signingAlgs: SIGNING_ALGS,
    async close() {
      await uow.close();
      if (redis?.isOpen) await redis.close();
    },
  };
}

export type Container = Awaited<ReturnType<typeof createContainer>>;
