import type { Client } from '../../clients/client.ts';
import { InvalidClient } from '../errors.ts';
import type { TokenRequest } from '../token-request.ts';
import type { ClientAuthMethod, ClientCredentials, ClientCredentialsRecord } from './client-auth-method.ts';

export type AuthenticatedClient = {
  client: Client;
  method: string;
  cnf?: Record<string, string> | undefined;
  /** Facts for the token.issued record (the assertion jti, the certificate thumbprint). */
  auditDetails?: Record<string, string> | undefined;
};

/** What is known about the caller so far, for the audit record of a refusal. */
export type AuthenticationAttempt = { clientId?: string; method?: string };

/** Where clients are looked up: the in-memory client directory on the hot path. */
export type ClientLookup = { find(clientId: string): Promise<ClientCredentialsRecord | undefined> };

/**
 * node-oidc-provider's client_auth.js with the switch replaced by the method registry: the
 * credentials were parsed once (presented-credentials.ts: one mechanism, one client id); this
 * finds the client, picks its registered method for that mechanism (the two certificate methods
 * share one) and verifies.
 */
export function createClientAuthenticator(deps: { methods: readonly ClientAuthMethod[]; clients: ClientLookup }) {
  const byMechanism = new Map<string, ClientAuthMethod[]>();
  for (const m of deps.methods) byMechanism.set(m.mechanism, [...(byMechanism.get(m.mechanism) ?? []), m]);

  return async function authenticateClient(req: TokenRequest, credentials: ClientCredentials, attempt: AuthenticationAttempt): Promise<AuthenticatedClient> {
    const candidates = byMechanism.get(credentials.mechanism)!;
    attempt.clientId = credentials.clientId;
    attempt.method = candidates[0]!.name;
    const record = await deps.clients.find(credentials.clientId);
    const method = candidates.find((m) => m.name === record?.client.tokenEndpointAuthMethod) ?? candidates[0]!;
    attempt.method = method.name;
    // Verify even for unknown, disabled or mismatched clients: each refusal then costs the same.
    let failure: InvalidClient | undefined;
    let verified;
    try {
      verified = await method.verify(req, credentials, record);
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
