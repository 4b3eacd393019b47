import { InvalidRequest, InvalidScope, InvalidTarget } from '../errors.ts';
import { parseScope } from '../scope.ts';
import { isAbsoluteUriWithoutFragment } from '../target.ts';
import { param, type TokenRequest } from '../token-request.ts';
import type { GrantHandler } from './grant-handler.ts';

export const TARGET_PARAMS = ['audience', 'resource'] as const;

/** Scopes: all registered ones when omitted or empty; otherwise each must be registered (no silent subset). */
function decideScopes(req: TokenRequest, registered: readonly string[]): string[] {
  const requested = param(req, 'scope');
  if (requested === undefined || requested === '') return [...registered];
  const scopes = parseScope(requested);
  if (!scopes) throw new InvalidScope('scope must be space-delimited scope tokens (RFC 6749 section 3.3)', { reason: 'invalid_scope' });
  if (scopes.some((s) => !registered.includes(s))) {
    throw new InvalidScope('the requested scope exceeds the scope registered for the client', { reason: 'scope_not_allowed' });
  }
  return scopes;
}

/** The audience and resource values together (RFC 8707 §2, RFC 8693 §2.1), each an absolute URI. */
export function requestedTargets(req: TokenRequest): string[] {
  const requested = [...new Set(TARGET_PARAMS.flatMap((p) => req.params.get(p) ?? []))];
  if (requested.some((t) => !isAbsoluteUriWithoutFragment(t))) {
    throw new InvalidTarget('audience and resource must be absolute URIs without a fragment (RFC 8707 section 2)', { reason: 'invalid_target' });
  }
  return requested;
}

/** Audience: the requested targets; the single registered audience when none is named. */
function decideAudience(req: TokenRequest, registered: readonly string[]): string[] {
  const requested = requestedTargets(req);
  if (requested.length === 0) {
    if (registered.length === 1) return [registered[0]!];
    if (registered.length === 0) throw new InvalidTarget('the client has no registered audience', { reason: 'audience_not_allowed' });
    throw new InvalidRequest('the client has several audiences: name one with audience or resource', { reason: 'audience_required' });
  }
  if (requested.some((t) => !registered.includes(t))) {
    throw new InvalidTarget('the requested audience is not registered for the client', { reason: 'audience_not_allowed' });
  }
  return requested;
}

/** RFC 6749 §4.4: the client acts on its own behalf. */
export const clientCredentialsGrant: GrantHandler = {
  grantType: 'client_credentials',
  parameters: new Set(['scope', ...TARGET_PARAMS]),
  repeatable: new Set(TARGET_PARAMS),
  handle: async (req, { client }) => ({
    kind: 'access_token',
    subject: client.subject,
    scopes: decideScopes(req, client.scopes),
    audience: decideAudience(req, client.audience),
    audit: { type: 'token.issued' },
  }),
};
