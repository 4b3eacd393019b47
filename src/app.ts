import express, { type NextFunction, type Request, type Response } from 'express';
import type { Container } from './container.ts';
import { createAdminRouter } from './http/admin/admin-router.ts';
import { createDocsRouter } from './http/docs/docs-routes.ts';
import { requestBasics } from './http/middleware/request-basics.ts';
import { securityHeaderList } from './http/middleware/security-headers.ts';
import { REQUESTED_TOKEN_TYPES, SUBJECT_TOKEN_TYPES, TOKEN_EXCHANGE_GRANT } from './oauth/token-exchange/token-types.ts';
import { createTokenRouter } from './http/oauth/token-route.ts';
import { createTokenManagementRouter } from './http/oauth/token-management-routes.ts';
import { createOpsRouter } from './http/ops/ops-routes.ts';
import { createJwksRouter } from './http/well-known/jwks-route.ts';
import { buildServerMetadata, createMetadataRouter } from './http/well-known/metadata-route.ts';
import { ASSERTION_SIGNING_ALGS } from './clients/method-metadata.ts';

/** Routes whose durations are reported; anything else is counted as "other". */
const METRIC_ROUTES = new Set(['/token', '/introspect', '/revoke', '/.well-known/jwks.json', '/healthz', '/readyz']);

export function buildApp(c: Container) {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  // X-Forwarded-For is believed only from the configured proxies (RFC 9700 §4.13).
  app.set('trust proxy', c.config.trustedProxies.length ? [...c.config.trustedProxies] : false);

  // Only the path is logged: query strings and headers may carry credentials (RFC 6749 §2.3.1 forbids them in URIs, callers still try).
  app.use(requestBasics({
    headers: securityHeaderList({
      contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
      referrerPolicy: { policy: 'no-referrer' },
      strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
    }),
    logger: c.logger,
    observe: c.metrics.observeRequest,
    routes: METRIC_ROUTES,
  }));

  app.use(createTokenRouter({
    endpoint: c.tokenEndpoint,
    repeatable: new Set(c.grants.flatMap((g) => [...g.repeatable])),
    readCertificate: c.readCertificate,
    addressLimitStore: c.rateLimitStore('token-address'),
    limits: c.config.rateLimits,
    realm: c.config.issuer,
  }));
  app.use(createTokenManagementRouter({
    introspection: c.introspection,
    revocation: c.revocation,
    readCertificate: c.readCertificate,
    addressLimitStore: c.rateLimitStore('token-address'),
    limits: c.config.rateLimits,
    realm: c.config.issuer,
  }));
  app.use(createJwksRouter({ jwks: () => c.keys.jwks(), maxAge: c.config.jwksMaxAge, now: () => c.clock.now() }));
  app.use(createMetadataRouter(buildServerMetadata({
    issuer: c.config.issuer,
    tokenEndpoint: c.config.tokenEndpoint,
    introspectionEndpoint: `${c.config.issuer}/introspect`,
    revocationEndpoint: `${c.config.issuer}/revoke`,
    jwksUri: c.config.jwksUri,
    grantTypes: c.grants.map((g) => g.grantType),
    authMethods: c.methods.map((m) => m.name),
    signingAlgs: c.signingAlgs,
    assertionAlgs: ASSERTION_SIGNING_ALGS,
    certificateBoundTokens: c.config.tls !== undefined || c.config.trustedClientCertHeader !== undefined,
    tokenExchange: c.grants.some((g) => g.grantType === TOKEN_EXCHANGE_GRANT)
      ? { subjectTokenTypes: SUBJECT_TOKEN_TYPES, requestedTokenTypes: REQUESTED_TOKEN_TYPES }
      : undefined,
  })));
  app.use(createOpsRouter({ ping: () => c.uow.ping(), probeWrite: () => c.uow.probeWrite(), auditRefusedRecently: c.auditRefusedRecently, degraded: c.degradedDependencies, hasActiveKey: () => c.keys.activeSigningKey() !== undefined, metrics: c.metrics, renderMetrics: c.config.metricsPort === undefined ? c.renderMetrics : undefined }));
  app.use(createDocsRouter({ issuer: c.config.issuer }));
  app.use('/admin', createAdminRouter({
    clients: c.clients,
    revocations: c.revocations,
    keys: c.keys,
    trustedIssuers: c.trustedIssuers,
    auditLog: c.uow.stores.audit,
    audit: c.audit,
    authMethods: c.methods.map((m) => m.name),
    now: () => c.clock.now(),
    tokenLifetime: async (id) => {
      const found = (await c.directory.find(id))?.client;
      return found && Math.min(found.accessTokenTtl ?? c.config.accessTokenTtl, c.config.maxAccessTokenTtl);
    },
    // Progress of a long verification: every 100,000 events, and at the end.
    verifyAudit: () => c.verifyAudit((p) => (p.eventsChecked % 100_000 === 0 || p.seq >= p.headSeq) && c.logger.info({ audit_verify: { events_checked: p.eventsChecked, position: String(p.seq), head: String(p.headSeq) } }, 'audit verification progress')),
    verify: c.verifyAdminToken,
    readCertificate: c.readCertificate,
    issuer: c.config.issuer,
    rateLimit: c.config.rateLimits.admin,
    rateLimitStore: c.rateLimitStore('admin'),
    logger: c.logger,
  }));

  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found', error_description: 'no such endpoint' });
  });
  // Last resort: log the cause for operators, tell the caller nothing about it.
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    c.logger.error({ err: error, requestId: res.locals.requestId, path: req.path }, 'unhandled error');
    if (res.headersSent) return;
    res.setHeader('Cache-Control', 'no-store');
    res.status(500).json({ error: 'server_error', error_description: 'internal error' });
  });
  return app;
}
