import type { Client, StoredSecret } from '../../clients/client.ts';
import type { TokenRequest } from '../token-request.ts';

export type ClientCredentialsRecord = { client: Client; secrets: StoredSecret[] };

/** One way a client proves its identity at the token endpoint (RFC 6749 §2.3, RFC 7523, RFC 8705). */
export interface ClientAuthMethod {
  /** The token_endpoint_auth_method value clients register. */
  readonly name: string;
  /** Body parameters this method consumes. */
  readonly params: ReadonlySet<string>;
  /** Whether the caller used this mechanism in the request, well-formed or not. */
  presentedBy(req: TokenRequest): boolean;
  /** The client id the credentials name; throws InvalidRequest when they are malformed. */
  claimedClientId(req: TokenRequest): string | undefined;
  /**
   * Proves the credentials belong to `record`; throws InvalidClient with a reason otherwise.
   * Called with `record` undefined for an unknown client, to spend the same time (no enumeration).
   */
  verify(req: TokenRequest, record: ClientCredentialsRecord | undefined): Promise<void>;
}
