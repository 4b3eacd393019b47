import type { AuditService } from '../audit/audit-service.ts';
import { ConfigError } from '../config/load-config.ts';
import type { SettingRepository } from '../shared/setting-repository.ts';
import type { Logger } from '../shared/logger.ts';
import type { UnitOfWork } from '../shared/unit-of-work.ts';
import type { Client } from './client.ts';

export const ISSUER_SETTING = 'issuer';

const adminAudienceOf = (issuer: string) => `${issuer}/admin`;

export type IssuerChangeDeps = {
  settings: SettingRepository;
  uow: UnitOfWork;
  audit: AuditService;
  logger: Logger;
  config: {
    issuer: string;
    adminAudience: string;
    production: boolean;
    confirmedIssuerChange: string | undefined;
    bootstrapAdmin: { clientId: string };
  };
};

export type IssuerChange = { previous: string; issuer: string; movedClients: string[] } | undefined;

/**
 * A database set up before the issuer was recorded: its bootstrap admin still names the issuer it
 * was created under, in its one admin audience.
 */
async function issuerOfBootstrapAdmin(deps: IssuerChangeDeps): Promise<string | undefined> {
  const admin = await deps.uow.stores.clients.findById(deps.config.bootstrapAdmin.clientId);
  if (!admin || admin.audience.includes(deps.config.adminAudience)) return undefined;
  const candidates = admin.audience.filter((a) => a.endsWith('/admin') && /^https?:\/\/[^/]/.test(a));
  return candidates.length === 1 ? candidates[0]!.slice(0, -'/admin'.length) : undefined;
}

/** Every client holding `from`, with `to` in its place. */
async function moveAudience(deps: IssuerChangeDeps, from: string, to: string, details: Record<string, unknown>): Promise<string[]> {
  const moved: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.uow.stores.clients.list({ limit: 100, cursor });
    for (const client of page.items.filter((c: Client) => c.audience.includes(from))) {
      const audience = [...new Set(client.audience.map((a) => (a === from ? to : a)))];
      await deps.uow.transaction(async (stores) => {
        await stores.clients.update(client.clientId, { audience });
        await deps.audit.record(stores.audit, { requestId: 'startup', sourceAddress: undefined }, {
          type: 'client.updated',
          outcome: 'success',
          clientId: client.clientId,
          audience,
          details: { actor: 'startup', changed: ['audience'], ...details },
        });
      });
      moved.push(client.clientId);
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return moved;
}

/**
 * The admin audience follows the configured issuer, so a restart under another ISSUER cannot lock
 * the operator out (the admin API would otherwise answer every admin token 401: their aud names
 * the old issuer, and the admin clients are registered only for it). The database records the
 * issuer it was set up with. When ISSUER differs, every client holding <old ISSUER>/admin is moved
 * to <ISSUER>/admin, audited, and the change is logged. In production a changed issuer is refused
 * until the operator confirms it with CONFIRM_ISSUER_CHANGE=<old issuer>: it invalidates every
 * token in circulation and every verifier's issuer setting, and an instance started with a stale
 * ISSUER must not move a live deployment's admin clients back.
 */
export async function followIssuer(deps: IssuerChangeDeps): Promise<IssuerChange> {
  const { issuer } = deps.config;
  const recorded = await deps.settings.get(ISSUER_SETTING);
  const previous = recorded ?? await issuerOfBootstrapAdmin(deps);
  if (previous === undefined || previous === issuer) {
    if (recorded !== issuer) await deps.settings.set(ISSUER_SETTING, issuer);
    return undefined;
  }
  if (deps.config.production && deps.config.confirmedIssuerChange !== previous) {
    throw new ConfigError(`ISSUER: the database was set up for ${previous}, not ${issuer}; every token and verifier names the issuer, so confirm the change with CONFIRM_ISSUER_CHANGE=${previous}`);
  }
  const movedClients = await moveAudience(deps, adminAudienceOf(previous), deps.config.adminAudience, { reason: 'issuer_changed', previous_issuer: previous, issuer });
  await deps.settings.set(ISSUER_SETTING, issuer);
  deps.logger.warn({ previousIssuer: previous, issuer, movedClients },
    'ISSUER changed: tokens issued under the previous issuer no longer verify anywhere; admin clients moved to the new admin audience');
  return { previous, issuer, movedClients };
}
