import type { ClientLimits } from '../limits/client-limits.ts';
import type { AuthenticatedClient, AuthenticationAttempt, ClientAuthenticator } from './client-auth/authenticate-client.ts';
import type { PresentedCredentials } from './client-auth/presented-credentials.ts';
import { InvalidRequest, RateLimited } from './errors.ts';
import { param, type TokenRequest } from './token-request.ts';

/** Longest accepted parameter value: a token of ours, or a client assertion, is far shorter. */
const MAX_VALUE_LENGTH = 16_384;

/**
 * The steps /introspect and /revoke share with /token before their own work: no repeated or
 * bracketed parameter (RFC 6749 §3.2), the client authenticated by its registered method, and
 * its per-client limit (the same budget as its token requests).
 */
export function createCallerAuthentication(deps: { authenticateClient: ClientAuthenticator; limits: ClientLimits }) {
  function rejectDuplicates(req: TokenRequest): void {
    for (const [name, values] of req.params) {
      if (name.includes('[') || name.includes(']')) throw new InvalidRequest('parameter names with brackets are not accepted', { reason: 'malformed_request' });
      if (values.length > 1) throw new InvalidRequest(`parameter ${name} must not be sent more than once (RFC 6749 section 3.2)`, { reason: 'duplicate_parameter' });
      if (values[0]!.length > MAX_VALUE_LENGTH) throw new InvalidRequest(`parameter ${name} is too long`, { reason: 'malformed_request' });
    }
  }

  return async function authenticateCaller(req: TokenRequest, credentials: PresentedCredentials, attempt: AuthenticationAttempt): Promise<AuthenticatedClient> {
    rejectDuplicates(req);
    if (credentials.mechanism === 'invalid') throw credentials.error;
    const authenticated = await deps.authenticateClient(req, credentials, attempt);
    const wait = await deps.limits.issued(authenticated.client.clientId);
    if (wait !== undefined) throw new RateLimited('too many requests for this client; retry later', { reason: 'rate_limited', retryAfterSeconds: wait });
    return authenticated;
  };
}

export type CallerAuthentication = ReturnType<typeof createCallerAuthentication>;

/** RFC 7662 §2.1 / RFC 7009 §2.1: the token parameter, required. */
export function tokenParam(req: TokenRequest): string {
  const token = param(req, 'token');
  if (token === undefined || token === '') throw new InvalidRequest('the token parameter is required', { reason: 'missing_token' });
  return token;
}
