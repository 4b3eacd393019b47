import type { Client, StoredSecret } from '../../clients/client.ts';
import type { TokenRequest } from '../token-request.ts';
import type { PresentedCredentials } from './presented-credentials.ts';

export type ClientCredentialsRecord = { client: Client; secrets: StoredSecret[] };

/** How credentials travel; methods sharing one (the two certificate methods) are told apart by registration. */
export type AuthMechanism = 'basic' | 'post' | 'assertion' | 'federated' | 'certificate';

/** What a successful verification adds to the token: RFC 8705 §3 certificate binding. */
export type VerifiedCredentials = { cnf?: Record<string, string>; auditDetails?: Record<string, string> };

/** Credentials that name a client and a mechanism (parsed by presented-credentials.ts). */
export type ClientCredentials = Exclude<PresentedCredentials, { mechanism: 'invalid' }>;

/** One way a client proves its identity at the token endpoint (RFC 6749 §2.3, RFC 7523, RFC 8705). */
export interface ClientAuthMethod {
  /** The token_endpoint_auth_method value clients register. */
  readonly name: string;
  readonly mechanism: AuthMechanism;
  /**
   * Proves the credentials belong to `record`; throws InvalidClient with a reason otherwise.
   * Called with `record` undefined for an unknown client, to spend the same time (no enumeration).
   */
  verify(req: TokenRequest, credentials: ClientCredentials, record: ClientCredentialsRecord | undefined): Promise<VerifiedCredentials>;
}
