import type { RequestContext } from '../audit/audit-event.ts';
import type { AuditService } from '../audit/audit-service.ts';
import type { Clock } from '../shared/clock.ts';
import { NotFound, ValidationFailed } from '../shared/errors.ts';
import { randomToken } from '../shared/ids.ts';
import type { Page, PageRequest } from '../shared/page.ts';
import type { UnitOfWork } from '../shared/unit-of-work.ts';
import { JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT } from '../oauth/token-exchange/token-types.ts';
import type { Client, ClientChanges, FederatedCredential, NewClient, TokenExchangePolicy } from './client.ts';
import { KEY_AND_CERTIFICATE_FIELDS, parseMetadata, type ClientMetadataSchemas } from './client-metadata-schema.ts';
import { methodMetadataIssues, TLS_SUBJECT_FIELDS, type MethodMetadata, type TlsSubjectField } from './method-metadata.ts';
import { issueSecret, type SecretHasher } from './client-secret.ts';
import { createAdminPrivilegeGuard } from './admin-privilege.ts';

/**
 * The admin who asked, for the audit trail, and the admin scopes it holds now (the token's scopes
 * that its client still holds), which decide what it may grant (admin-privilege.ts).
 */
export type AdminContext = RequestContext & { actor: string; actorScopes: readonly string[] };

export type ClientServiceDeps = {
  uow: UnitOfWork;
  schemas: ClientMetadataSchemas;
  hasher: SecretHasher;
  audit: AuditService;
  clock: Clock;
  secretMethods: ReadonlySet<string>;
  allowInsecureJwksUri: boolean;
  adminAudience: string;
};

/** The method-related fields of a request body (absent ones left out, null kept: it clears on PATCH). */
function methodMetadataIn(body: Record<string, unknown>): Partial<MethodMetadata> {
  return Object.fromEntries(Object.entries(body).filter(([k, v]) =>
    v !== undefined && (k === 'token_endpoint_auth_method' || (KEY_AND_CERTIFICATE_FIELDS as readonly string[]).includes(k))));
}

/** A client's method metadata in RFC 7591 names, for merging with a PATCH body. */
function methodMetadataOf(c: Client): MethodMetadata {
  return {
    token_endpoint_auth_method: c.tokenEndpointAuthMethod,
    jwks: c.jwks ?? undefined,
    jwks_uri: c.jwksUri ?? undefined,
    token_endpoint_auth_signing_alg: c.tokenEndpointAuthSigningAlg ?? undefined,
    ...Object.fromEntries(Object.entries(TLS_SUBJECT_FIELDS).map(([field, key]) => [field, c.tlsClientAuth[key] ?? undefined])),
  };
}

/** The validated method metadata as domain fields. */
function methodFields(m: MethodMetadata): Pick<Client, 'jwks' | 'jwksUri' | 'tokenEndpointAuthSigningAlg' | 'tlsClientAuth'> {
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  return {
    jwks: (m.jwks ?? null) as Client['jwks'],
    jwksUri: text(m.jwks_uri),
    tokenEndpointAuthSigningAlg: text(m.token_endpoint_auth_signing_alg),
    tlsClientAuth: Object.fromEntries(
      (Object.entries(TLS_SUBJECT_FIELDS) as [TlsSubjectField, keyof Client['tlsClientAuth']][]).map(([field, key]) => [key, text(m[field])]),
    ) as Client['tlsClientAuth'],
  };
}

/** The grants that issue tokens for another subject, and so need an exchange policy. */
const DELEGATING_GRANTS: readonly string[] = [TOKEN_EXCHANGE_GRANT, JWT_BEARER_GRANT];

type ExchangePolicyInput = { subject_issuers: string[]; subject_audiences: string[]; audience: string[]; scope: string };

function exchangePolicyOf(input: ExchangePolicyInput | null | undefined): TokenExchangePolicy | null {
  if (!input) return null;
  return {
    subjectIssuers: input.subject_issuers,
    subjectAudiences: input.subject_audiences,
    audience: input.audience,
    scopes: input.scope === '' ? [] : [...new Set(input.scope.split(' '))],
  };
}

type FederatedCredentialInput = { issuer: string; subject: string; require_bound_token: boolean };

function federatedCredentialOf(input: FederatedCredentialInput | null | undefined): FederatedCredential | null {
  return input ? { issuer: input.issuer, subject: input.subject, requireBoundToken: input.require_bound_token } : null;
}

export const MAX_GRACE_SECONDS = 30 * 86400;

export function createClientService(deps: ClientServiceDeps) {
  const { uow, schemas, hasher, audit, clock, secretMethods } = deps;
  const guard = createAdminPrivilegeGuard(deps);

  function checkMethodMetadata(m: MethodMetadata): MethodMetadata {
    const issues = methodMetadataIssues(m, { allowInsecureJwksUri: deps.allowInsecureJwksUri });
    if (issues.length) throw new ValidationFailed(issues);
    return m;
  }

  /** Exchange rights go with the grant type: one without the other is a registration mistake, refused by name. */
  function checkExchangePolicy(grantTypes: readonly string[], policy: TokenExchangePolicy | null): TokenExchangePolicy | null {
    const granted = grantTypes.filter((g) => DELEGATING_GRANTS.includes(g));
    if (granted.length && !policy) throw new ValidationFailed([{ name: 'token_exchange', reason: `is required when grant_types includes ${granted.join(' or ')}` }]);
    if (!granted.length && policy) throw new ValidationFailed([{ name: 'grant_types', reason: `must include ${DELEGATING_GRANTS.join(' or ')} when token_exchange is set` }]);
    return policy;
  }

  /** federated_jwt and its credential go together. */
  function checkFederated(method: string, credential: FederatedCredential | null): FederatedCredential | null {
    if (method === 'federated_jwt' && !credential) throw new ValidationFailed([{ name: 'federated_credential', reason: 'is required with token_endpoint_auth_method federated_jwt' }]);
    if (method !== 'federated_jwt' && credential) throw new ValidationFailed([{ name: 'federated_credential', reason: 'is only for token_endpoint_auth_method federated_jwt' }]);
    return credential;
  }

  const newSecret = (expiresAt: Date | null = null, secret?: string) => issueSecret(hasher, expiresAt, secret);

  async function insertClient(client: NewClient, ctx: AdminContext, presetSecret?: string) {
    const issued = secretMethods.has(client.tokenEndpointAuthMethod) ? newSecret(null, presetSecret) : undefined;
    const created = await uow.transaction(async (stores) => {
      const row = await stores.clients.insert(client, issued?.stored);
      await audit.record(stores.audit, ctx, {
        type: 'client.created',
        outcome: 'success',
        clientId: row.clientId,
        authMethod: row.tokenEndpointAuthMethod,
        audience: row.audience,
        scope: row.scopes.join(' '),
        details: { actor: ctx.actor },
      });
      return row;
    });
    return { client: created, secret: issued?.secret };
  }

  return {
    /** RFC 7591 registration; the secret (for secret methods) is returned here and never again. */
    async register(body: unknown, ctx: AdminContext): Promise<{ client: Client; secret: string | undefined }> {
      const input = parseMetadata(schemas.registration, body);
      const method = checkMethodMetadata(methodMetadataIn(input) as MethodMetadata);
      const clientId = input.client_id ?? `c-${randomToken(12)}`;
      const scopes = input.scope === '' ? [] : [...new Set(input.scope.split(' '))];
      guard.checkGrant(ctx.actorScopes, { scopes, audience: input.audience });
      return insertClient({
        clientId,
        clientName: input.client_name,
        tokenEndpointAuthMethod: input.token_endpoint_auth_method,
        grantTypes: input.grant_types,
        scopes,
        audience: input.audience,
        accessTokenTtl: input.access_token_ttl ?? null,
        tokenQuotaPerHour: input.token_quota_per_hour ?? null,
        tokenQuotaPerDay: input.token_quota_per_day ?? null,
        subject: input.subject ?? clientId,
        ...methodFields(method),
        tokenExchange: checkExchangePolicy(input.grant_types, exchangePolicyOf(input.token_exchange)),
        introspection: input.introspection,
        federatedCredential: checkFederated(input.token_endpoint_auth_method, federatedCredentialOf(input.federated_credential)),
        disabled: false,
      }, ctx);
    },

    /** The bootstrap admin client of contract §5, with a secret from the environment or generated. */
    registerBootstrapAdmin(client: NewClient, secret: string | undefined, ctx: AdminContext) {
      return insertClient(client, ctx, secret);
    },

    list: (page: PageRequest): Promise<Page<Client>> => uow.stores.clients.list(page),

    async get(clientId: string): Promise<Client> {
      const client = await uow.stores.clients.findById(clientId);
      if (!client) throw new NotFound(`no client ${JSON.stringify(clientId)}`);
      return client;
    },

    /**
     * PATCH. A switch between a secret method and a key or certificate method changes what can
     * authenticate the client, so its secrets go with the old method: switching away destroys
     * every stored secret hash (a later switch back cannot revive one), switching to a secret
     * method issues a new secret, returned here once, like at registration.
     */
    async update(clientId: string, body: unknown, ctx: AdminContext): Promise<{ client: Client; secret: string | undefined }> {
      const input = parseMetadata(schemas.update, body);
      return uow.transaction(async (stores) => {
        const existing = await stores.clients.findById(clientId);
        if (!existing) throw new NotFound(`no client ${JSON.stringify(clientId)}`);
        guard.checkMayChange(ctx.actorScopes, existing);
        // Method metadata is validated as a whole: the stored values with the PATCH laid over them (null clears).
        const merged = checkMethodMetadata(Object.fromEntries(
          Object.entries({ ...methodMetadataOf(existing), ...methodMetadataIn(input) }).filter(([, v]) => v !== null),
        ) as MethodMetadata);
        const changes: ClientChanges = {
          ...(input.client_name !== undefined && { clientName: input.client_name }),
          ...(input.token_endpoint_auth_method !== undefined && { tokenEndpointAuthMethod: input.token_endpoint_auth_method }),
          ...(input.grant_types !== undefined && { grantTypes: input.grant_types }),
          ...(input.scope !== undefined && { scopes: input.scope === '' ? [] : [...new Set(input.scope.split(' '))] }),
          ...(input.audience !== undefined && { audience: input.audience }),
          ...(input.access_token_ttl !== undefined && { accessTokenTtl: input.access_token_ttl }),
          ...(input.token_quota_per_hour !== undefined && { tokenQuotaPerHour: input.token_quota_per_hour }),
          ...(input.token_quota_per_day !== undefined && { tokenQuotaPerDay: input.token_quota_per_day }),
          ...(input.subject !== undefined && { subject: input.subject }),
          ...methodFields(merged),
          ...(input.introspection !== undefined && { introspection: input.introspection }),
          ...(input.disabled !== undefined && { disabled: input.disabled }),
        };
        const tokenExchange = input.token_exchange === undefined ? existing.tokenExchange : exchangePolicyOf(input.token_exchange);
        checkExchangePolicy(changes.grantTypes ?? existing.grantTypes, tokenExchange);
        if (input.token_exchange !== undefined) changes.tokenExchange = tokenExchange;
        const federated = input.federated_credential === undefined ? existing.federatedCredential : federatedCredentialOf(input.federated_credential);
        checkFederated(changes.tokenEndpointAuthMethod ?? existing.tokenEndpointAuthMethod, federated);
        if (input.federated_credential !== undefined) changes.federatedCredential = federated;
        guard.checkGrant(ctx.actorScopes, { scopes: changes.scopes ?? existing.scopes, audience: changes.audience ?? existing.audience });
        const updated = await stores.clients.update(clientId, changes);
        const hadSecret = secretMethods.has(existing.tokenEndpointAuthMethod);
        const hasSecret = secretMethods.has(updated.tokenEndpointAuthMethod);
        const secretsRemoved = hadSecret && !hasSecret ? await stores.clients.removeSecrets(clientId) : undefined;
        const issued = !hadSecret && hasSecret ? newSecret() : undefined;
        if (issued) await stores.clients.replaceSecret(clientId, issued.stored, undefined, clock.now());
        await audit.record(stores.audit, ctx, {
          type: 'client.updated',
          outcome: 'success',
          clientId,
          details: {
            actor: ctx.actor,
            changed: Object.keys(input).sort(),
            ...(secretsRemoved !== undefined && { secrets_removed: secretsRemoved }),
            ...(issued && { secret_issued: true }),
          },
        });
        return { client: updated, secret: issued?.secret };
      });
    },

    async delete(clientId: string, ctx: AdminContext): Promise<void> {
      await uow.transaction(async (stores) => {
        const existing = await stores.clients.findById(clientId);
        if (!existing) throw new NotFound(`no client ${JSON.stringify(clientId)}`);
        guard.checkMayChange(ctx.actorScopes, existing);
        if (!(await stores.clients.delete(clientId))) throw new NotFound(`no client ${JSON.stringify(clientId)}`);
        await audit.record(stores.audit, ctx, { type: 'client.deleted', outcome: 'success', clientId, details: { actor: ctx.actor } });
      });
    },

    /**
     * Issues a new secret. With grace_seconds the previous one keeps working that long
     * (Hydra's secret rotation); without it, it stops at once.
     */
    async rotateSecret(clientId: string, body: unknown, ctx: AdminContext): Promise<{ secret: string; previousExpiresAt: Date | null }> {
      const grace = parseGrace(body);
      const now = clock.now();
      const previousExpiresAt = grace ? new Date(now.getTime() + grace * 1000) : undefined;
      const issued = newSecret();
      await uow.transaction(async (stores) => {
        const client = await stores.clients.findById(clientId);
        if (!client) throw new NotFound(`no client ${JSON.stringify(clientId)}`);
        guard.checkMayChange(ctx.actorScopes, client);
        if (!secretMethods.has(client.tokenEndpointAuthMethod)) {
          throw new ValidationFailed([{ name: 'token_endpoint_auth_method', reason: `${client.tokenEndpointAuthMethod} clients have no secret` }]);
        }
        await stores.clients.replaceSecret(clientId, issued.stored, previousExpiresAt, now);
        await audit.record(stores.audit, ctx, {
          type: 'client.secret_rotated',
          outcome: 'success',
          clientId,
          details: { actor: ctx.actor, grace_seconds: grace },
        });
      });
      return { secret: issued.secret, previousExpiresAt: previousExpiresAt ?? null };
    },
  };
}

function parseGrace(body: unknown): number {
  if (body === undefined || body === null) return 0;
  if (typeof body !== 'object' || Array.isArray(body)) throw new ValidationFailed([{ name: 'body', reason: 'must be a JSON object' }]);
  const extra = Object.keys(body).filter((k) => k !== 'grace_seconds');
  if (extra.length) throw new ValidationFailed(extra.map((name) => ({ name, reason: 'is not a field that can be set' })));
  const grace = (body as { grace_seconds?: unknown }).grace_seconds;
  if (grace === undefined) return 0;
  if (typeof grace !== 'number' || !Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_SECONDS) {
    throw new ValidationFailed([{ name: 'grace_seconds', reason: `must be a whole number of seconds from 0 to ${MAX_GRACE_SECONDS}` }]);
  }
  return grace;
}

export type ClientService = ReturnType<typeof createClientService>;
