import type { AuditService } from '../audit/audit-service.ts';
import type { Clock } from '../shared/clock.ts';
import { NotFound } from '../shared/errors.ts';
import type { UnitOfWork } from '../shared/unit-of-work.ts';
import { ADMIN_SCOPES } from './admin-privilege.ts';
import { bootstrapAdminClient, type BootstrapConfig } from './bootstrap-admin.ts';
import type { ClientChanges } from './client.ts';
import type { AdminContext } from './client-service.ts';
import { issueSecret, type SecretHasher } from './client-secret.ts';

export type RecoveryDeps = { uow: UnitOfWork; hasher: SecretHasher; audit: AuditService; clock: Clock; config: BootstrapConfig };

export type RecoveryResult = { clientId: string; secret: string; created: boolean; restored: string[] };

/** The fields a recovery may change, by their admin API (RFC 7591) names, for the audit trail. */
const FIELD_NAMES: Record<string, string> = { tokenEndpointAuthMethod: 'token_endpoint_auth_method', disabled: 'disabled', scopes: 'scope', audience: 'audience' };

const NO_CERTIFICATE_SUBJECT = { subjectDn: null, sanDns: null, sanUri: null, sanIp: null, sanEmail: null };

/**
 * The operator's way back in, straight on the database (src/cli/admin.ts), for when no admin token
 * can be had: a lost secret, the admin disabled, switched to a key method, stripped of its scopes,
 * or deleted. The client gets a new secret (every old one stops at once), client_secret_basic and
 * is enabled; the bootstrap admin also gets back every admin scope and the admin audience of the
 * configured issuer, and is re-created if it is gone. One transaction, audited with the operator.
 */
export function createAdminRecovery(deps: RecoveryDeps) {
  return async function resetSecret(clientId: string, ctx: AdminContext): Promise<RecoveryResult> {
    const isBootstrap = clientId === deps.config.bootstrapAdmin.clientId;
    const issued = issueSecret(deps.hasher);
    return deps.uow.transaction(async (stores) => {
      const existing = await stores.clients.findById(clientId);
      if (!existing) {
        if (!isBootstrap) throw new NotFound(`no client ${JSON.stringify(clientId)}`);
        const row = await stores.clients.insert(bootstrapAdminClient(deps.config), issued.stored);
        await deps.audit.record(stores.audit, ctx, {
          type: 'client.created', outcome: 'success', clientId, authMethod: row.tokenEndpointAuthMethod,
          audience: row.audience, scope: row.scopes.join(' '), details: { actor: ctx.actor, reason: 'operator_recovery' },
        });
        return { clientId, secret: issued.secret, created: true, restored: [] };
      }
      const changes: ClientChanges = {
        ...(existing.tokenEndpointAuthMethod !== 'client_secret_basic' && {
          tokenEndpointAuthMethod: 'client_secret_basic', jwks: null, jwksUri: null, tokenEndpointAuthSigningAlg: null, tlsClientAuth: NO_CERTIFICATE_SUBJECT,
        }),
        ...(existing.disabled && { disabled: false }),
        ...(isBootstrap && !ADMIN_SCOPES.every((s) => existing.scopes.includes(s)) && { scopes: [...new Set([...existing.scopes, ...ADMIN_SCOPES])] }),
        ...(isBootstrap && !existing.audience.includes(deps.config.adminAudience) && { audience: [...existing.audience, deps.config.adminAudience] }),
      };
      const restored = Object.keys(changes).flatMap((k) => FIELD_NAMES[k] ?? []);
      if (restored.length) {
        await stores.clients.update(clientId, changes);
        await deps.audit.record(stores.audit, ctx, {
          type: 'client.updated', outcome: 'success', clientId, details: { actor: ctx.actor, changed: restored.sort(), reason: 'operator_recovery' },
        });
      }
      await stores.clients.replaceSecret(clientId, issued.stored, undefined, deps.clock.now());
      await deps.audit.record(stores.audit, ctx, {
        type: 'client.secret_rotated', outcome: 'success', clientId, details: { actor: ctx.actor, grace_seconds: 0, reason: 'operator_recovery' },
      });
      return { clientId, secret: issued.secret, created: false, restored };
    });
  };
}
