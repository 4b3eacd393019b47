import type { AuthenticatedClient } from '../client-auth/authenticate-client.ts';
import type { TokenRequest } from '../token-request.ts';

/** RFC 8693 §4.1: who acts for the subject; each earlier actor is nested inside. */
export type ActorClaim = { sub: string; iss?: string; act?: ActorClaim };

/** The kinds of token this service signs: RFC 9068 access tokens and Txn-Tokens (typ txntoken+jwt). */
export type IssuedTokenKind = 'access_token' | 'txn_token';

/**
 * What a grant decided to issue. The token endpoint signs it, stores the audit record and answers;
 * nothing here is sent before the record is stored.
 */
export type GrantDecision = {
  kind: IssuedTokenKind;
  /** The token's sub: the client itself, or the original subject of an exchange. */
  subject: string;
  scopes: string[];
  audience: string[];
  /** RFC 8693 §4.1 actor chain, outermost (the calling client) first. */
  act?: ActorClaim | undefined;
  /** Further claims of this kind of token (a Txn-Token's txn, tctx, rctx, req_wl). */
  claims?: Record<string, unknown> | undefined;
  /** Epoch seconds the token must not outlive (the subject token's exp). */
  notAfter?: number | undefined;
  /** RFC 8693 §2.2.1 issued_token_type, answered when set. */
  issuedTokenType?: string | undefined;
  audit: { type: 'token.issued' | 'token.exchanged'; details?: Record<string, unknown> | undefined };
};

/**
 * One grant type (node-oidc-provider's grants/<x>.js): adding a grant is one module and one line in
 * the factory (index.ts). A grant reads only its own parameters and decides asynchronously (it may
 * verify tokens, fetch an issuer's keys).
 */
export interface GrantHandler {
  readonly grantType: string;
  /** Body parameters this grant reads besides grant_type and client authentication. */
  readonly parameters: ReadonlySet<string>;
  /** Parameters that may appear more than once (RFC 8707 resource, RFC 8693 audience). */
  readonly repeatable: ReadonlySet<string>;
  handle(req: TokenRequest, client: AuthenticatedClient): Promise<GrantDecision>;
}
