import type { AuthenticatedClient } from '../client-auth/authenticate-client.ts';
import type { TokenRequest } from '../token-request.ts';

/** What a grant decided to issue; the token endpoint signs, audits and answers. */
export type TokenGrantDecision = { scopes: string[]; audience: string[] };

/** One grant type (node-oidc-provider's grants/<x>.js): adding a grant is one file and one line in index.ts. */
export interface GrantHandler {
  readonly grantType: string;
  /** Body parameters this grant reads besides grant_type and client authentication. */
  readonly parameters: ReadonlySet<string>;
  /** Parameters that may appear more than once (RFC 8707 resource, RFC 8693 audience). */
  readonly repeatable: ReadonlySet<string>;
  decide(req: TokenRequest, client: AuthenticatedClient): TokenGrantDecision;
}
