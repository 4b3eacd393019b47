import type { AuthenticatedClient } from '../client-auth/authenticate-client.ts';
import { InvalidGrant, InvalidRequest, UnauthorizedClient } from '../errors.ts';
import { param, type TokenRequest } from '../token-request.ts';
import type { Delegation } from '../token-exchange/delegation.ts';
import type { SubjectTokenReader } from '../token-exchange/subject-token.ts';
import { JWT_BEARER_GRANT, TOKEN_TYPE } from '../token-exchange/token-types.ts';
import { TARGET_PARAMS } from './client-credentials.ts';
import type { GrantDecision, GrantHandler } from './grant-handler.ts';

export type JwtBearerDeps = { read: SubjectTokenReader; delegation: Delegation };

/**
 * RFC 7523 §2.1: an authenticated client presents a JWT of a trusted issuer (a user's or a workload's
 * assertion) and gets a token for its subject. Same rules as token exchange: the client's exchange
 * policy names the issuer, the audiences and scopes; the issuer's subject claim becomes sub; the
 * client is recorded as the actor. An assertion that does not verify is invalid_grant (§3.1).
 */
export function createJwtBearerGrant(deps: JwtBearerDeps): GrantHandler {
  return {
    grantType: JWT_BEARER_GRANT,
    parameters: new Set(['assertion', 'scope', ...TARGET_PARAMS]),
    repeatable: new Set(TARGET_PARAMS),
    async handle(req: TokenRequest, { client }: AuthenticatedClient): Promise<GrantDecision> {
      const policy = client.tokenExchange;
      if (!policy) throw new UnauthorizedClient('the client has no exchange policy naming the issuers it may present assertions of', { reason: 'exchange_not_allowed' });
      const assertion = param(req, 'assertion');
      if (!assertion) throw new InvalidRequest('assertion is required (RFC 7523 section 2.1)', { reason: 'missing_subject_token' });
      try {
        const subject = await deps.read.subject(assertion, TOKEN_TYPE.jwt, policy, { externalOnly: true });
        return deps.delegation.accessToken(req, client, policy, subject, { type: 'token.issued', subjectTokenType: TOKEN_TYPE.jwt, requestedTokenType: TOKEN_TYPE.accessToken });
      } catch (error) {
        // RFC 7523 §3.1: whatever is wrong with the assertion is invalid_grant (token exchange says invalid_request).
        if (error instanceof InvalidRequest && error.reason.startsWith('subject_token_') || error instanceof InvalidRequest && error.reason === 'unknown_issuer') {
          throw new InvalidGrant(error.description.replace('subject_token', 'assertion'), { reason: error.reason, cause: error });
        }
        throw error;
      }
    },
  };
}
