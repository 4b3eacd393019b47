import type { JSONWebKeySet } from 'jose';
import type { AuditService } from '../audit/audit-service.ts';
import { requireFullAdmin } from '../clients/admin-privilege.ts';
import { parseMetadata } from '../clients/client-metadata-schema.ts';
import type { AdminContext } from '../clients/client-service.ts';
import { Conflict, NotFound, ValidationFailed } from '../shared/errors.ts';
import { timeOrderedId } from '../shared/ids.ts';
import type { Page, PageRequest } from '../shared/page.ts';
import type { Stores, UnitOfWork } from '../shared/unit-of-work.ts';
import type { TrustedIssuer, TrustedIssuerChanges } from './trusted-issuer.ts';
import { createTrustedIssuerSchemas, keySourceIssues, type IssuerRules, type KeySource } from './trusted-issuer-schema.ts';

export type TrustedIssuerServiceDeps = {
  uow: UnitOfWork;
  audit: AuditService;
  rules: IssuerRules;
};

/** Ids are ULIDs (src/shared/ids.ts): anything else is a 404 without a lookup. */
export const TRUSTED_ISSUER_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** Only the keys member of a registered JWK Set is kept: other members mean nothing to verification. */
const keysOnly = (jwks: unknown): JSONWebKeySet | null => (jwks === undefined || jwks === null ? null : { keys: (jwks as JSONWebKeySet).keys });

/**
 * The admin use cases of trusted issuers. Every write needs a caller holding every admin scope
 * (admin-privilege.ts): an issuer's tokens can name any subject, so trusting one is as strong as
 * granting identities. Each change and its audit event commit together.
 */
export function createTrustedIssuerService(deps: TrustedIssuerServiceDeps) {
  const { uow, audit, rules } = deps;
  const schemas = createTrustedIssuerSchemas(rules);

  function checkKeySource(m: KeySource): void {
    const issues = keySourceIssues(m, rules);
    if (issues.length) throw new ValidationFailed(issues);
  }

  async function existing(stores: Stores, id: string): Promise<TrustedIssuer> {
    const found = TRUSTED_ISSUER_ID.test(id) ? await stores.trustedIssuers.findById(id) : undefined;
    if (!found) throw new NotFound(`no trusted issuer ${JSON.stringify(id)}`);
    return found;
  }

  const details = (ctx: AdminContext, issuer: TrustedIssuer, extra: Record<string, unknown> = {}) =>
    ({ actor: ctx.actor, trusted_issuer_id: issuer.id, issuer: issuer.issuer, ...extra });

  return {
    async register(body: unknown, ctx: AdminContext): Promise<TrustedIssuer> {
      requireFullAdmin(ctx.actorScopes, 'trusting an issuer');
      const input = parseMetadata(schemas.registration, body);
      checkKeySource(input);
      try {
        return await uow.transaction(async (stores) => {
          const created = await stores.trustedIssuers.insert({
            id: timeOrderedId(),
            issuer: input.issuer,
            jwksUri: typeof input.jwks_uri === 'string' ? input.jwks_uri : null,
            jwks: keysOnly(input.jwks),
            audiences: input.audiences,
            algorithms: input.algorithms,
            subjectClaim: input.subject_claim,
            maxTokenAge: input.max_token_age ?? null,
            description: input.description ?? null,
            disabled: input.disabled,
          });
          await audit.record(stores.audit, ctx, {
            type: 'issuer.created',
            outcome: 'success',
            audience: created.audiences,
            details: details(ctx, created, { key_source: created.jwksUri ? 'jwks_uri' : 'jwks', disabled: created.disabled }),
          });
          return created;
        });
      } catch (error) {
        if (error instanceof Conflict) throw new Conflict(`the issuer ${JSON.stringify(input.issuer)} is already registered`, { cause: error });
        throw error;
      }
    },

    list: (page: PageRequest, filter: { issuer?: string | undefined } = {}): Promise<Page<TrustedIssuer>> => uow.stores.trustedIssuers.list(page, filter),

    get: (id: string): Promise<TrustedIssuer> => existing(uow.stores, id),

    /** PATCH: absent fields stay, null clears; the key source is checked as a whole after the merge. */
    async update(id: string, body: unknown, ctx: AdminContext): Promise<TrustedIssuer> {
      requireFullAdmin(ctx.actorScopes, 'changing a trusted issuer');
      const input = parseMetadata(schemas.update, body);
      return uow.transaction(async (stores) => {
        const current = await existing(stores, id);
        const merged: KeySource = {
          jwks: input.jwks === undefined ? current.jwks : input.jwks,
          jwks_uri: input.jwks_uri === undefined ? current.jwksUri : input.jwks_uri,
          algorithms: input.algorithms ?? current.algorithms,
        };
        checkKeySource(merged);
        const changes: TrustedIssuerChanges = {
          jwksUri: typeof merged.jwks_uri === 'string' ? merged.jwks_uri : null,
          jwks: keysOnly(merged.jwks),
          ...(input.audiences !== undefined && { audiences: input.audiences }),
          ...(input.algorithms !== undefined && { algorithms: input.algorithms }),
          ...(input.subject_claim !== undefined && { subjectClaim: input.subject_claim }),
          ...(input.max_token_age !== undefined && { maxTokenAge: input.max_token_age }),
          ...(input.description !== undefined && { description: input.description }),
          ...(input.disabled !== undefined && { disabled: input.disabled }),
        };
        const updated = await stores.trustedIssuers.update(id, changes);
        await audit.record(stores.audit, ctx, {
          type: 'issuer.updated',
          outcome: 'success',
          audience: updated.audiences,
          details: details(ctx, updated, { changed: Object.keys(input).sort() }),
        });
        return updated;
      });
    },

    async delete(id: string, ctx: AdminContext): Promise<void> {
      requireFullAdmin(ctx.actorScopes, 'removing a trusted issuer');
      await uow.transaction(async (stores) => {
        const current = await existing(stores, id);
        if (!(await stores.trustedIssuers.delete(id))) throw new NotFound(`no trusted issuer ${JSON.stringify(id)}`);
        await audit.record(stores.audit, ctx, { type: 'issuer.deleted', outcome: 'success', details: details(ctx, current) });
      });
    },
  };
}

export type TrustedIssuerService = ReturnType<typeof createTrustedIssuerService>;
