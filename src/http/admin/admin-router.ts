import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { ipKeyGenerator, rateLimit, type Store } from 'express-rate-limit';
import type { AuditRepository } from '../../audit/audit-repository.ts';
import type { AuditService } from '../../audit/audit-service.ts';
import type { AuditVerification } from '../../audit/verify-audit-chain.ts';
import type { AuditStreamOptions } from './audit-stream.ts';
import type { ClientService } from '../../clients/client-service.ts';
import type { TrustedIssuerService } from '../../issuers/trusted-issuer-service.ts';
import type { KeyService } from '../../keys/key-service.ts';
import { DomainError, Forbidden, Unauthenticated, ValidationFailed } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import type { RevocationService } from '../../tokens/revocation-service.ts';
import { ASSERTION_SIGNING_ALGS } from '../../clients/method-metadata.ts';
import { requestContext } from '../middleware/request-context.ts';
import { createAuditRouter } from './audit-routes.ts';
import { createClientsRouter } from './clients-routes.ts';
import { createKeysRouter } from './keys-routes.ts';
import { createTrustedIssuersRouter } from './trusted-issuers-routes.ts';
import { AdminMethodNotAllowed } from './method-not-allowed.ts';
import { sendProblem } from './problem-response.ts';
import { createRequireAdminScope, type AdminAuthDeps } from './require-admin-scope.ts';

export type AdminRouterDeps = {
  clients: ClientService;
  revocations: RevocationService;
  keys: KeyService;
  trustedIssuers: TrustedIssuerService;
  auditLog: AuditRepository;
  audit: AuditService;
  /** Client authentication method names (the audit filter's auth_method values). */
  authMethods: readonly string[];
  verifyAudit: () => Promise<AuditVerification>;
  tokenLifetime: (clientId: string) => Promise<number | undefined>;
  now: () => Date;
  auditStream?: Partial<AuditStreamOptions> | undefined;
  rateLimit: number;
  rateLimitStore: Store | undefined;
  logger: Logger;
} & AdminAuthDeps;

class RateLimitExceeded extends Error {}
class UnsupportedMediaType extends Error {}

/** A body must be JSON; requests without a body pass (their handlers validate what is missing). */
function requireJson(req: Request, _res: Response, next: NextFunction): void {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (hasBody && !req.is('application/json')) return next(new UnsupportedMediaType('the body must be application/json'));
  next();
}

export function createAdminRouter(deps: AdminRouterDeps): Router {
  const router = Router();
  router.use(rateLimit({
    ...(deps.rateLimitStore && { store: deps.rateLimitStore }),
    windowMs: 60_000,
    limit: deps.rateLimit,
    skip: () => deps.rateLimit === 0,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: (req) => ipKeyGenerator(req.ip ?? 'unknown'),
    handler: (_req, _res, next) => next(new RateLimitExceeded('too many admin requests')),
  }));
  router.use(requireJson, express.json({ limit: '64kb', strict: true }));
  const requireScope = createRequireAdminScope(deps);
  router.use(createClientsRouter({ ...deps, requireScope }));
  router.use(createKeysRouter({ ...deps, requireScope }));
  router.use(createAuditRouter({ ...deps, requireScope, streamOptions: deps.auditStream }));
  router.use(createTrustedIssuersRouter({ ...deps, requireScope }));
  router.use((req, _res, next) => next(new NotFoundRoute(req.path)));

  // The admin API's one error path: RFC 9457 problems; every 401/403 is audited as admin.denied.
  router.use(async (error: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof Unauthenticated || error instanceof Forbidden) {
      try {
        await deps.audit.record(deps.auditLog, requestContext(req, res), {
          type: 'admin.denied',
          outcome: 'failure',
          reason: error.reason,
          details: { method: req.method, path: req.baseUrl + req.path },
        });
      } catch (auditError) {
        deps.logger.error({ err: auditError, requestId: res.locals.requestId }, 'admin.denied could not be audited');
        return sendProblem(res, { kind: 'storage_unavailable', detail: 'the service cannot record this request right now' });
      }
      res.setHeader('WWW-Authenticate', challenge(req, error));
      return sendProblem(res, { kind: error.kind, detail: error.message });
    }
    if (error instanceof ValidationFailed) return sendProblem(res, { kind: error.kind, detail: error.message, invalidParams: error.issues });
    if (error instanceof DomainError) {
      if (error.kind === 'storage_unavailable') {
        deps.logger.error({ err: error.cause ?? error, requestId: res.locals.requestId }, 'storage unavailable');
        res.setHeader('Retry-After', '5');
      }
      return sendProblem(res, { kind: error.kind, detail: error.message });
    }
    if (error instanceof NotFoundRoute) return sendProblem(res, { kind: 'not_found', detail: 'no such admin resource' });
    if (error instanceof AdminMethodNotAllowed) {
      res.setHeader('Allow', error.allow);
      return sendProblem(res, { kind: 'method_not_allowed', detail: error.message });
    }
    if (error instanceof RateLimitExceeded) {
      res.setHeader('Retry-After', '60');
      return sendProblem(res, { kind: 'too_many_requests', detail: error.message });
    }
    if (error instanceof UnsupportedMediaType) return sendProblem(res, { kind: 'not_acceptable_media_type', detail: error.message });
    // The router could not percent-decode a path parameter (e.g. %C0%AE): the caller's mistake, not a 500.
    if (error instanceof URIError) return sendProblem(res, { kind: 'bad_request', detail: 'the path is not correctly percent-encoded', invalidParams: [{ name: 'path', reason: 'must be valid percent-encoded UTF-8' }] });
    const type = (error as { type?: unknown } | null)?.type;
    if (type === 'entity.too.large') return sendProblem(res, { kind: 'validation_failed', detail: 'the request body is too large', invalidParams: [{ name: 'body', reason: 'must be at most 64 KiB' }] });
    // Contract §5: a 400 names the failing fields; for an unreadable body that is the body itself.
    if (typeof type === 'string') return sendProblem(res, { kind: 'bad_request', detail: 'the body is not valid JSON', invalidParams: [{ name: 'body', reason: 'must be a JSON object' }] });
    throw error;
  });
  return router;
}

class NotFoundRoute extends Error {}

/**
 * RFC 6750 §3 / RFC 9449 §7.1: the challenge of the scheme the caller used; a DPoP challenge names
 * the proof algorithms we accept.
 */
function challenge(req: Request, error: Unauthenticated | Forbidden): string {
  const dpop = /^dpop /i.test(req.get('authorization') ?? '');
  const params = error instanceof Forbidden
    ? `error="insufficient_scope", scope="${error.requiredScope}"`
    : `error="${error.challengeError}"`;
  return dpop ? `DPoP ${params}, algs="${ASSERTION_SIGNING_ALGS.join(' ')}"` : `Bearer ${params}`;
}
