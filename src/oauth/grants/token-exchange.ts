import { randomUUID } from 'node:crypto';
import type { Client, TokenExchangePolicy } from '../../clients/client.ts';
import type { AuthenticatedClient } from '../client-auth/authenticate-client.ts';
import { InvalidGrant, InvalidRequest, InvalidScope, InvalidTarget, UnauthorizedClient } from '../errors.ts';
import { param, type TokenRequest } from '../token-request.ts';
import { checkMayAct, decideDelegatedScopes, type Delegation, type DelegationAudit } from '../token-exchange/delegation.ts';
import type { SubjectTokenReader, VerifiedSubjectToken } from '../token-exchange/subject-token.ts';
import { extendContext, parseContextParameter } from '../token-exchange/transaction-context.ts';
import { ACTOR_TOKEN_TYPES, REQUESTED_TOKEN_TYPES, SUBJECT_TOKEN_TYPES, TOKEN_EXCHANGE_GRANT, TOKEN_TYPE } from '../token-exchange/token-types.ts';
import { TARGET_PARAMS } from './client-credentials.ts';
import type { GrantDecision, GrantHandler } from './grant-handler.ts';

export type TokenExchangeDeps = {
  read: SubjectTokenReader;
  delegation: Delegation;
  config: { issuer: string; maxChainDepth: number; txnTrustDomain: string };
};

const PARAMETERS = [
  'subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'scope',
  ...TARGET_PARAMS, 'request_context', 'request_details',
];

const auditOf = (req: TokenRequest, type: DelegationAudit['type']): DelegationAudit => ({
  type, subjectTokenType: param(req, 'subject_token_type')!, requestedTokenType: param(req, 'requested_token_type') ?? TOKEN_TYPE.accessToken,
});

/**
 * RFC 8693 token exchange: a client trades a token it holds (a user's token from a trusted identity
 * provider, or the token an earlier hop got from us) for a narrow one for the next hop that still
 * names the original subject and records, in act, who acted for it. With requested_token_type
 * txn_token it issues a Txn-Token (draft-ietf-oauth-transaction-tokens) for the trust domain, or a
 * replacement for one. Default deny: only a client with an exchange policy may exchange.
 */
export function createTokenExchangeGrant(deps: TokenExchangeDeps): GrantHandler {
  async function actorCheck(req: TokenRequest, client: Client): Promise<void> {
    const actorToken = param(req, 'actor_token');
    const actorType = param(req, 'actor_token_type');
    if (actorToken === undefined) {
      if (actorType !== undefined) throw new InvalidRequest('actor_token_type must not be sent without actor_token (RFC 8693 section 2.1)', { reason: 'malformed_request' });
      return;
    }
    if (actorType === undefined) throw new InvalidRequest('actor_token_type is required with actor_token', { reason: 'malformed_request' });
    if (!ACTOR_TOKEN_TYPES.includes(actorType)) throw new InvalidRequest('actor_token_type is not supported', { reason: 'unsupported_token_type' });
    const actor = await deps.read.actor(actorToken);
    if (actor.sub !== client.subject || actor.client_id !== client.clientId) {
      throw new InvalidGrant('the actor token does not belong to the authenticated client', { reason: 'actor_mismatch' });
    }
  }

  function txnToken(req: TokenRequest, client: Client, policy: TokenExchangePolicy, subject: VerifiedSubjectToken): GrantDecision {
    const audiences = [...new Set(TARGET_PARAMS.flatMap((p) => req.params.get(p) ?? []))];
    if (audiences.length !== 1 || audiences[0] !== deps.config.txnTrustDomain) {
      throw new InvalidTarget('audience must be the trust domain of this Txn-Token service, and only it', { reason: 'wrong_trust_domain' });
    }
    if (!policy.audience.includes(deps.config.txnTrustDomain)) {
      throw new UnauthorizedClient('the client\'s exchange policy does not allow Txn-Tokens', { reason: 'audience_not_allowed' });
    }
    if (subject.scopes === undefined) {
      // Draft, "Unknown subject_token scope": an unknown scope is never taken as unconstrained.
      throw new InvalidScope('the subject token carries no scope, so a Txn-Token scope cannot be bounded by it', { reason: 'subject_scope_unknown' });
    }
    const scopes = decideDelegatedScopes(req, policy, subject, true);
    const context = parseContextParameter('request_context', param(req, 'request_context'));
    const details = parseContextParameter('request_details', param(req, 'request_details'));
    const replacing = param(req, 'subject_token_type') === TOKEN_TYPE.txnToken;
    let claims: Record<string, unknown>;
    if (replacing) {
      // Draft, "Txn-Token as a subject_token": txn, sub and aud stay; the call chain grows.
      const workloads = String(subject.payload.req_wl).split(' ').filter(Boolean);
      if (workloads.length + 1 > deps.config.maxChainDepth) {
        throw new InvalidGrant(`the transaction's call chain would exceed ${deps.config.maxChainDepth} workloads`, { reason: 'chain_too_deep' });
      }
      const tctx = extendContext('request_details', subject.payload.tctx, details);
      const rctx = extendContext('request_context', subject.payload.rctx, context);
      claims = { txn: subject.payload.txn, req_wl: [...workloads, client.subject].join(' '), ...(tctx && { tctx }), ...(rctx && { rctx }) };
    } else {
      if (!context) throw new InvalidRequest('request_context is required: the context of the transaction (a JSON object)', { reason: 'context_missing' });
      claims = { txn: randomUUID(), req_wl: client.subject, rctx: context, ...(details && { tctx: details }) };
    }
    return {
      kind: 'txn_token',
      subject: subject.subject,
      scopes,
      audience: [deps.config.txnTrustDomain],
      claims,
      notAfter: deps.delegation.remainingLifetime(subject),
      issuedTokenType: TOKEN_TYPE.txnToken,
      audit: {
        type: 'token.exchanged',
        details: { ...deps.delegation.auditDetails(subject, String(claims.req_wl).split(' ').reverse(), auditOf(req, 'token.exchanged'), TOKEN_TYPE.txnToken), txn: claims.txn },
      },
    };
  }

  return {
    grantType: TOKEN_EXCHANGE_GRANT,
    parameters: new Set(PARAMETERS),
    repeatable: new Set(TARGET_PARAMS),
    async handle(req: TokenRequest, { client }: AuthenticatedClient): Promise<GrantDecision> {
      const policy = client.tokenExchange;
      if (!policy) throw new UnauthorizedClient('the client has no token exchange policy', { reason: 'exchange_not_allowed' });
      const requestedType = param(req, 'requested_token_type') ?? TOKEN_TYPE.accessToken;
      if (!REQUESTED_TOKEN_TYPES.includes(requestedType)) throw new InvalidRequest('requested_token_type is not supported', { reason: 'unsupported_token_type' });
      const token = param(req, 'subject_token');
      const type = param(req, 'subject_token_type');
      if (!token || !type) throw new InvalidRequest('subject_token and subject_token_type are required', { reason: 'missing_subject_token' });
      if (!SUBJECT_TOKEN_TYPES.includes(type)) throw new InvalidRequest('subject_token_type is not supported', { reason: 'unsupported_token_type' });
      const txn = requestedType === TOKEN_TYPE.txnToken;
      if (type === TOKEN_TYPE.txnToken && !txn) {
        throw new InvalidRequest('a Txn-Token is exchanged only for a replacement Txn-Token', { reason: 'unsupported_token_type' });
      }
      const subject = await deps.read.subject(token, type, policy);
      await actorCheck(req, client);
      if (txn) {
        checkMayAct(subject.payload, client, deps.config.issuer);
        return txnToken(req, client, policy, subject);
      }
      return deps.delegation.accessToken(req, client, policy, subject, auditOf(req, 'token.exchanged'));
    },
  };
}
