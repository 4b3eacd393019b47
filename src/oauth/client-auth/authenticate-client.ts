import type { Client } from '../../clients/client.ts';
import type { ClientRepository } from '../../clients/client-repository.ts';
import { InvalidClient, InvalidRequest } from '../errors.ts';
import { param, type TokenRequest } from '../token-request.ts';
import type { ClientAuthMethod } from './client-auth-method.ts';
import { isBasicAuthorization } from './client-secret-basic.ts';

export type AuthenticatedClient = {
  client: Client;
  method: string;
  cnf?: Record<string, string> | undefined;
  /** Facts for the token.issued record (the assertion jti, the certificate thumbprint). */
  auditDetails?: Record<string, string> | undefined;
};

/** What is known about the caller so far, for the audit record of a refusal. */
export type AuthenticationAttempt = { clientId?: string; method?: string };

const MAX_CLIENT_ID_LENGTH = 255;
/**
 * PostgreSQL text cannot hold a NUL, so an id with one could be neither looked up nor audited
 * (the refusal would turn into a 503); no registered id holds one, so it is refused up front.
 */
export const NUL_CHARACTER = /\u0000/;

/**
 * node-oidc-provider's client_auth.js with the switch replaced by the method registry: exactly one
 * mechanism (RFC 6749 §2.3), one client id, a live client, its registered method. The two
 * certificate methods share one mechanism; the client's registration says which applies.
 */
export function createClientAuthenticator(deps: { methods: readonly ClientAuthMethod[]; clients: ClientRepository }) {
  return async function authenticateClient(req: TokenRequest, attempt: AuthenticationAttempt): Promise<AuthenticatedClient> {
    if (req.authorization !== undefined && !isBasicAuthorization(req.authorization)) {
      throw new InvalidRequest('the Authorization header must use the Basic scheme at the token endpoint', { reason: 'malformed_credentials' });
    }
    const candidates = deps.methods.filter((m) => m.presentedBy(req));
    const mechanisms = new Set(candidates.map((m) => m.mechanism));
    if (mechanisms.size > 1) {
      throw new InvalidRequest('use exactly one client authentication method per request', { reason: 'multiple_auth_methods' });
    }
    const first = candidates[0];
    if (!first) throw new InvalidRequest('client authentication is required', { reason: 'no_client_authentication' });
    attempt.method = first.name;

    const claimed = first.claimedClientId(req);
    const bodyClientId = param(req, 'client_id');
    if (claimed !== undefined && bodyClientId !== undefined && claimed !== bodyClientId) {
      throw new InvalidRequest('client_id does not match the authenticated client', { reason: 'client_id_mismatch' });
    }
    const clientId = claimed ?? bodyClientId;
    if (!clientId) throw new InvalidRequest('client_id is required', { reason: 'no_client_authentication' });
    if (clientId.length > MAX_CLIENT_ID_LENGTH) throw new InvalidRequest('client_id is too long', { reason: 'malformed_request' });
    if (NUL_CHARACTER.test(clientId)) throw new InvalidRequest('client_id must not contain NUL', { reason: 'malformed_request' });
    attempt.clientId = clientId;

    const record = await deps.clients.findForAuthentication(clientId);
    const method = candidates.find((m) => m.name === record?.client.tokenEndpointAuthMethod) ?? first;
    attempt.method = method.name;
    // Verify even for unknown, disabled or mismatched clients: each refusal then costs the same.
    let failure: InvalidClient | undefined;
    let verified;
    try {
      verified = await method.verify(req, record);
    } catch (error) {
      if (!(error instanceof InvalidClient)) throw error;
      failure = error;
    }
    if (!record) throw new InvalidClient('unknown_client');
    if (record.client.tokenEndpointAuthMethod !== method.name) throw new InvalidClient('auth_method_mismatch');
    if (failure) throw failure;
    if (record.client.disabled) throw new InvalidClient('client_disabled');
    return { client: record.client, method: method.name, cnf: verified?.cnf, auditDetails: verified?.auditDetails };
  };
}

export type ClientAuthenticator = ReturnType<typeof createClientAuthenticator>;
