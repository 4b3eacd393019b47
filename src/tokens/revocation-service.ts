import { z } from 'zod';
import type { AuditService } from '../audit/audit-service.ts';
import type { AdminPrivilegeGuard } from '../clients/admin-privilege.ts';
import type { AdminContext } from '../clients/client-service.ts';
import { parseMetadata } from '../clients/client-metadata-schema.ts';
import type { Clock } from '../shared/clock.ts';
import { NotFound, ValidationFailed } from '../shared/errors.ts';
import type { UnitOfWork } from '../shared/unit-of-work.ts';
import type { ClientTokenCutoff } from './revocation-repository.ts';

export type RevocationServiceDeps = {
  uow: UnitOfWork;
  audit: AuditService;
  clock: Clock;
  guard: Pick<AdminPrivilegeGuard, 'checkMayChange'>;
  /** The longest any token of ours lives (MAX_ACCESS_TOKEN_TTL): a cut-off is kept that long after T. */
  maxTokenLifetimeSeconds: number;
};

const body = z.strictObject({
  issued_before: z.iso.datetime({ offset: true, message: 'must be an RFC 3339 date-time, e.g. 2026-12-01T12:00:00Z' }).optional(),
});

/**
 * The admin side of revocation: every token of a client issued before T (default: now) stops being
 * accepted by this service — introspection, the admin API, token exchange — at once on this
 * instance and over the change feed on the others. A client holding an admin scope or the admin
 * audience needs a full admin for this, as for any change to it (admin-privilege.ts).
 */
export function createRevocationService(deps: RevocationServiceDeps) {
  return {
    async revokeClientTokens(clientId: string, input: unknown, ctx: AdminContext): Promise<ClientTokenCutoff> {
      const parsed = parseMetadata(body, input ?? {});
      const now = deps.clock.now();
      const issuedBefore = parsed.issued_before === undefined ? now : new Date(parsed.issued_before);
      if (issuedBefore.getTime() > now.getTime()) throw new ValidationFailed([{ name: 'issued_before', reason: 'must not be in the future' }]);
      const expiresAt = new Date(issuedBefore.getTime() + deps.maxTokenLifetimeSeconds * 1000);
      return deps.uow.transaction(async (stores) => {
        const client = await stores.clients.findById(clientId);
        if (!client) throw new NotFound(`no client ${JSON.stringify(clientId)}`);
        deps.guard.checkMayChange(ctx.actorScopes, client);
        const inForce = await stores.revocations.revokeClientTokens({ clientId, issuedBefore, expiresAt });
        await deps.audit.record(stores.audit, ctx, {
          type: 'token.revoked',
          outcome: 'success',
          clientId,
          details: { actor: ctx.actor, issued_before: issuedBefore.toISOString(), in_force_before: inForce.issuedBefore.toISOString() },
        });
        return inForce;
      });
    },
  };
}

export type RevocationService = ReturnType<typeof createRevocationService>;
