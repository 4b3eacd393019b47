import type { ClientRepository } from './client-repository.ts';
import type { ClientService } from './client-service.ts';
import { Conflict } from '../shared/errors.ts';
import type { NewClient } from './client.ts';
import { ADMIN_SCOPES } from './admin-privilege.ts';

export type BootstrapResult = { created: false } | { created: true; clientId: string; generatedSecret: string | undefined };

export type BootstrapConfig = { adminAudience: string; bootstrapAdmin: { clientId: string; secret: string | undefined } };

/** The bootstrap admin of contract §5: every admin scope, for the admin audience of the configured issuer. */
export function bootstrapAdminClient(config: BootstrapConfig): NewClient {
  const { clientId } = config.bootstrapAdmin;
  return {
    clientId,
    clientName: 'Bootstrap administrator',
    tokenEndpointAuthMethod: 'client_secret_basic',
    grantTypes: ['client_credentials'],
    scopes: [...ADMIN_SCOPES],
    audience: [config.adminAudience],
    accessTokenTtl: null,
    // Exempt from TOKEN_QUOTA_PER_*: a quota is for service clients that do not reuse their tokens;
    // held to one, an admin script fetching a token per call would shut the admin API out for the
    // day. Its per-client rate limit still applies. PATCH can set quotas on it like on any client.
    tokenQuotaPerHour: 0,
    tokenQuotaPerDay: 0,
    subject: clientId,
    jwks: null,
    jwksUri: null,
    tokenEndpointAuthSigningAlg: null,
    tlsClientAuth: { subjectDn: null, sanDns: null, sanUri: null, sanIp: null, sanEmail: null },
    tokenExchange: null,
    introspection: false,
    federatedCredential: null,
    disabled: false,
  };
}

/**
 * Contract §5: on first start with an empty database, the admin client with all three admin
 * scopes for the audience <ISSUER>/admin. Instances starting together race on the primary key;
 * the losers find the client already there.
 */
export async function ensureBootstrapAdmin(deps: {
  clients: Pick<ClientRepository, 'count'>;
  service: ClientService;
  config: BootstrapConfig;
}): Promise<BootstrapResult> {
  if ((await deps.clients.count()) > 0) return { created: false };
  const { clientId, secret } = deps.config.bootstrapAdmin;
  try {
    const created = await deps.service.registerBootstrapAdmin(bootstrapAdminClient(deps.config), secret,
      { requestId: 'startup', sourceAddress: undefined, actor: 'bootstrap', actorScopes: ADMIN_SCOPES });
    return { created: true, clientId, generatedSecret: secret === undefined ? created.secret : undefined };
  } catch (error) {
    if (error instanceof Conflict) return { created: false };
    throw error;
  }
}
