import { Forbidden } from '../shared/errors.ts';
import type { Client } from './client.ts';

/** The admin API's scopes (contract §5); the bootstrap admin holds all of them. */
export const ADMIN_SCOPES = ['admin:clients', 'admin:keys', 'admin:audit'] as const;
export type AdminScope = (typeof ADMIN_SCOPES)[number];

/** Every scope under admin:, including ones a later version may add, is privileged (fail closed). */
export const isAdminScope = (scope: string): boolean => scope.startsWith('admin:');

/**
 * For changes as strong as granting identities (trusting an external issuer: its tokens name any
 * subject): only a caller holding every admin scope, like changes to a privileged client.
 */
export function requireFullAdmin(actorScopes: readonly string[], what: string): void {
  if (!ADMIN_SCOPES.every((s) => actorScopes.includes(s))) {
    throw new Forbidden(`${what}: that needs a caller holding every admin scope (${ADMIN_SCOPES.join(' ')})`, 'admin_privilege_required', ADMIN_SCOPES.join(' '));
  }
}

/** What the guard needs to know about a client: what it may ask for. */
export type Grants = Pick<Client, 'scopes' | 'audience'>;

/**
 * The rule that keeps a narrow admin token narrow (OWASP API5, broken function-level
 * authorization): admin scopes and the admin audience can be granted, and a client holding either
 * can be changed in any way (scopes, audiences, secret, method, keys, disabling, deletion), only by
 * a caller holding every admin scope. Without it an admin:clients token registers a client with
 * admin:keys admin:audit for the admin audience, or rotates the bootstrap admin's secret, and so
 * becomes full admin. Service scopes and audiences stay manageable with admin:clients alone.
 */
export function createAdminPrivilegeGuard(config: { adminAudience: string }) {
  const isPrivileged = (c: Grants): boolean => c.scopes.some(isAdminScope) || c.audience.includes(config.adminAudience);
  const isFullAdmin = (actorScopes: readonly string[]): boolean => ADMIN_SCOPES.every((s) => actorScopes.includes(s));
  const refusal = (detail: string) => new Forbidden(
    `${detail}: that needs a caller holding every admin scope (${ADMIN_SCOPES.join(' ')})`,
    'admin_privilege_required',
    ADMIN_SCOPES.join(' '),
  );

  return {
    isPrivileged,

    /** Registration, and a PATCH's result: the client's scopes and audiences once the request is done. */
    checkGrant(actorScopes: readonly string[], client: Grants): void {
      if (isPrivileged(client) && !isFullAdmin(actorScopes)) throw refusal('the client would hold an admin scope or the admin audience');
    },

    /** Any change to an existing client, its deletion and its secret rotation included. */
    checkMayChange(actorScopes: readonly string[], client: Grants): void {
      if (isPrivileged(client) && !isFullAdmin(actorScopes)) throw refusal('the client holds an admin scope or the admin audience');
    },
  };
}

export type AdminPrivilegeGuard = ReturnType<typeof createAdminPrivilegeGuard>;
