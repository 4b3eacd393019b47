import { Router, type Request } from 'express';
import { AUDIT_EVENT_TYPES, type AuditEventType, type AuditFilter, type AuditOutcome } from '../../audit/audit-event.ts';
import type { AuditRepository } from '../../audit/audit-repository.ts';
import type { AuditVerification } from '../../audit/verify-audit-chain.ts';
import { ValidationFailed, type FieldIssue } from '../../shared/errors.ts';
import { parseDurationSeconds } from '../../shared/duration.ts';
import { createAuditStream, type AuditStreamOptions } from './audit-stream.ts';
import { methodNotAllowed } from './method-not-allowed.ts';
import { pageRequest, queryValue } from './pagination.ts';
import { auditEventRepresentation } from './representations.ts';
import type { RequireAdminScope } from './require-admin-scope.ts';

const ISO_8601 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;
/** Denial reasons are snake_case identifiers (src/oauth/errors.ts). */
const REASON = /^[a-z][a-z0-9_]{0,63}$/;
/** Request ids are the X-Request-Id tokens the service accepts, UUIDs, or a system context's name. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Date reads 2026-02-30 as 2 March; ISO 8601 has no such day, so it is refused rather than moved. */
function isCalendarDay(text: string): boolean {
  const [year, month, day] = text.slice(0, 10).split('-').map(Number) as [number, number, number];
  return day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** A plain printable value of 1..max characters (no control characters, NUL included). */
function plainText(value: string, max: number): boolean {
  // eslint-disable-next-line no-control-regex
  return value.length >= 1 && value.length <= max && !/[\u0000-\u001f\u007f]/.test(value);
}

function auditFilter(req: Request, authMethods: readonly string[]): AuditFilter {
  const issues: FieldIssue[] = [];
  const time = (name: string) => {
    const text = queryValue(req, name);
    if (text === undefined) return undefined;
    const date = ISO_8601.test(text) && isCalendarDay(text) ? new Date(text) : new Date(Number.NaN);
    if (Number.isNaN(date.getTime())) issues.push({ name, reason: 'must be an ISO 8601 date or date-time' });
    return date;
  };
  const checked = (name: string, ok: (v: string) => boolean, reason: string) => {
    const value = queryValue(req, name);
    if (value !== undefined && !ok(value)) issues.push({ name, reason });
    return value;
  };
  const type = checked('type', (v) => (AUDIT_EVENT_TYPES as readonly string[]).includes(v), `must be one of ${AUDIT_EVENT_TYPES.join(', ')}`);
  const outcome = checked('outcome', (v) => v === 'success' || v === 'failure', 'must be success or failure');
  const clientId = checked('client_id', (v) => v !== '' && v.length <= 255 && !v.includes('\u0000'), 'must be 1-255 characters, without NUL');
  const audience = checked('audience', (v) => plainText(v, 2048), 'must be 1-2048 characters, without control characters');
  const authMethod = checked('auth_method', (v) => authMethods.includes(v), `must be one of ${authMethods.join(', ')}`);
  const reason = checked('reason', (v) => REASON.test(v), 'must be a reason name: lower-case letters, digits and _, up to 64');
  const jti = checked('jti', (v) => plainText(v, 255), 'must be 1-255 characters, without control characters');
  const requestId = checked('request_id', (v) => REQUEST_ID.test(v), 'must be 1-128 letters, digits or . _ : -');
  const since = time('since');
  const until = time('until');
  if (since && until && since > until) issues.push({ name: 'since', reason: 'must not be after until' });
  if (issues.length) throw new ValidationFailed(issues);
  return {
    clientId, type: type as AuditEventType | undefined, outcome: outcome as AuditOutcome | undefined, since, until, audience, authMethod, reason, jti, requestId,
  };
}

export function verificationRepresentation(v: AuditVerification) {
  return {
    intact: v.intact,
    events_checked: v.eventsChecked,
    checkpoints_checked: v.checkpointsChecked,
    first_mismatch: v.firstMismatch && { event_id: v.firstMismatch.eventId, problem: v.firstMismatch.problem, description: v.firstMismatch.description },
  };
}

export function createAuditRouter(deps: {
  auditLog: AuditRepository;
  requireScope: RequireAdminScope;
  authMethods: readonly string[];
  verifyAudit: () => Promise<AuditVerification>;
  /** The lifetime of the tokens a client is issued now (seconds); undefined for an unknown client. */
  tokenLifetime: (clientId: string) => Promise<number | undefined>;
  now: () => Date;
  streamOptions?: Partial<AuditStreamOptions> | undefined;
}): Router {
  const router = Router();
  const stream = createAuditStream({ auditLog: deps.auditLog, ...(deps.streamOptions && { options: deps.streamOptions }) });
  router.route('/audit')
    .get(deps.requireScope('admin:audit'), async (req, res) => {
      const filter = auditFilter(req, deps.authMethods);
      const page = await deps.auditLog.list(filter, pageRequest(req));
      res.json({ items: page.items.map(auditEventRepresentation), next_cursor: page.nextCursor });
    })
    .all(methodNotAllowed('GET'));
  router.route('/audit/stream')
    .get(deps.requireScope('admin:audit'), async (req, res) => {
      await stream(req, res, auditFilter(req, deps.authMethods));
    })
    .all(methodNotAllowed('GET'));
  // The clients that do not cache: tokens issued per client within the window, per token lifetime.
  router.route('/audit/token-reuse')
    .get(deps.requireScope('admin:audit'), async (req, res) => {
      const text = queryValue(req, 'window');
      const windowSeconds = text === undefined ? 3600 : parseDurationSeconds(text);
      if (windowSeconds === undefined || windowSeconds < 60 || windowSeconds > 30 * 86400) {
        throw new ValidationFailed([{ name: 'window', reason: 'must be a duration from 60s to 30d, like "3600", "15m", "1h" or "1d"' }]);
      }
      const { limit } = pageRequest(req);
      const counts = await deps.auditLog.issuedPerClient(new Date(deps.now().getTime() - windowSeconds * 1000), limit);
      const items = await Promise.all(counts.map(async ({ clientId, tokens }) => {
        const lifetime = await deps.tokenLifetime(clientId);
        return {
          client_id: clientId,
          tokens,
          token_lifetime_seconds: lifetime ?? null,
          // A client that reuses its tokens needs about one per lifetime (window ≥ lifetime).
          tokens_per_lifetime: lifetime === undefined ? null : Math.round((tokens * Math.min(lifetime, windowSeconds) / windowSeconds) * 100) / 100,
        };
      }));
      items.sort((a, b) => (b.tokens_per_lifetime ?? 0) - (a.tokens_per_lifetime ?? 0));
      res.setHeader('Cache-Control', 'no-store');
      res.json({ window_seconds: windowSeconds, items });
    })
    .all(methodNotAllowed('GET'));
  router.route('/audit/verify')
    .post(deps.requireScope('admin:audit'), async (_req, res) => {
      const result = await deps.verifyAudit();
      res.setHeader('Cache-Control', 'no-store');
      res.json(verificationRepresentation(result));
    })
    .all(methodNotAllowed('POST'));
  return router;
}
