import { Router, type Request } from 'express';
import { AUDIT_EVENT_TYPES, type AuditEventType, type AuditFilter, type AuditOutcome } from '../../audit/audit-event.ts';
import type { AuditRepository } from '../../audit/audit-repository.ts';
import { ValidationFailed, type FieldIssue } from '../../shared/errors.ts';
import { methodNotAllowed } from './method-not-allowed.ts';
import { pageRequest, queryValue } from './pagination.ts';
import { auditEventRepresentation } from './representations.ts';
import type { RequireAdminScope } from './require-admin-scope.ts';

const ISO_8601 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** Date reads 2026-02-30 as 2 March; ISO 8601 has no such day, so it is refused rather than moved. */
function isCalendarDay(text: string): boolean {
  const [year, month, day] = text.slice(0, 10).split('-').map(Number) as [number, number, number];
  return day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function auditFilter(req: Request): AuditFilter {
  const issues: FieldIssue[] = [];
  const time = (name: string) => {
    const text = queryValue(req, name);
    if (text === undefined) return undefined;
    const date = ISO_8601.test(text) && isCalendarDay(text) ? new Date(text) : new Date(Number.NaN);
    if (Number.isNaN(date.getTime())) issues.push({ name, reason: 'must be an ISO 8601 date or date-time' });
    return date;
  };
  const type = queryValue(req, 'type');
  if (type !== undefined && !(AUDIT_EVENT_TYPES as readonly string[]).includes(type)) {
    issues.push({ name: 'type', reason: `must be one of ${AUDIT_EVENT_TYPES.join(', ')}` });
  }
  const outcome = queryValue(req, 'outcome');
  if (outcome !== undefined && outcome !== 'success' && outcome !== 'failure') issues.push({ name: 'outcome', reason: 'must be success or failure' });
  const clientId = queryValue(req, 'client_id');
  if (clientId !== undefined && (clientId === '' || clientId.length > 255 || clientId.includes('\u0000'))) {
    issues.push({ name: 'client_id', reason: 'must be 1-255 characters, without NUL' });
  }
  const since = time('since');
  const until = time('until');
  if (since && until && since > until) issues.push({ name: 'since', reason: 'must not be after until' });
  if (issues.length) throw new ValidationFailed(issues);
  return { clientId, type: type as AuditEventType | undefined, outcome: outcome as AuditOutcome | undefined, since, until };
}

export function createAuditRouter(deps: { auditLog: AuditRepository; requireScope: RequireAdminScope }): Router {
  const router = Router();
  router.route('/audit')
    .get(deps.requireScope('admin:audit'), async (req, res) => {
      const filter = auditFilter(req);
      const page = await deps.auditLog.list(filter, pageRequest(req));
      res.json({ items: page.items.map(auditEventRepresentation), next_cursor: page.nextCursor });
    })
    .all(methodNotAllowed('GET'));
  return router;
}
