import { randomUUID } from 'node:crypto';
import type { JWTPayload } from 'jose';
import type { Client, TokenExchangePolicy } from '../../clients/client.ts';
import { epochSeconds } from '../../shared/clock.ts';
import type { AuthenticatedClient } from '../client-auth/authenticate-client.ts';
import { InvalidGrant, InvalidRequest, InvalidScope, InvalidTarget, UnauthorizedClient } from '../errors.ts';
import { parseScope } from '../scope.ts';
import { param, type TokenRequest } from '../token-request.ts';
import { chainLength, chainSubjects, readActorChain } from '../token-exchange/actor-chain.ts';
import type { SubjectTokenReader, VerifiedSubjectToken } from '../token-exchange/subject-token.ts';
import { extendContext, parseContextParameter } from '../token-exchange/transaction-context.ts';
import { ACTOR_TOKEN_TYPES, REQUESTED_TOKEN_TYPES, SUBJECT_TOKEN_TYPES, TOKEN_EXCHANGE_GRANT, TOKEN_TYPE } from '../token-exchange/token-types.ts';
import { requestedTargets, TARGET_PARAMS } from './client-credentials.ts';
import type { GrantDecision, GrantHandler } from './grant-handler.ts';

export type TokenExchangeDeps = {
  read: SubjectTokenReader;
  now: () => Date;
  config: { issuer: string; maxChainDepth: number; txnTrustDomain: string };
};

const PARAMETERS = [
  'subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'scope',
  ...TARGET_PARAMS, 'request_context', 'request_details',
];

/**
 * Scopes only narrow: what the client's policy allows, and, when the subject token carries a scope,
 * only what it carries. Omitted: all of that.
 */
function decideScopes(req: TokenRequest, policy: TokenExchangePolicy, subject: VerifiedSubjectToken, required: boolean): string[] {
  const allowed = policy.scopes.filter((s) => subject.scopes === undefined || subject.scopes.includes(s));
  const text = param(req, 'scope');
  if (text === undefined || text === '') {
    if (required) throw new InvalidRequest('scope is required for a Txn-Token: the purpose of the transaction', { reason: 'invalid_scope' });
    return allowed;
  }
  const requested = parseScope(text);
  if (!requested) throw new InvalidScope('scope must be space-delimited scope tokens (RFC 6749 section 3.3)', { reason: 'invalid_scope' });
  if (requested.some((s) => !allowed.includes(s))) {
    throw new InvalidScope('the requested scope exceeds what the subject token and the client\'s exchange policy allow', { reason: 'scope_not_allowed' });
  }
  return requested;
}

function decideAudience(req: TokenRequest, policy: TokenExchangePolicy): string[] {
  const requested = requestedTargets(req);
  if (requested.length === 0) {
    if (policy.audience.length === 1) return [policy.audience[0]!];
    throw new InvalidRequest('name the audience of the new token with audience or resource', { reason: 'audience_required' });
  }
  if (requested.some((t) => !policy.audience.includes(t))) {
    throw new InvalidTarget('the client\'s exchange policy does not allow tokens for this audience', { reason: 'audience_not_allowed' });
  }
  return requested;
}

/** RFC 8693 §4.4: a subject token naming who may act for it admits only that actor. */
function checkMayAct(payload: JWTPayload, client: Client, ourIssuer: string): void {
  const mayAct = payload.may_act;
  if (mayAct === undefined) return;
  if (mayAct === null || typeof mayAct !== 'object' || Array.isArray(mayAct)) {
    throw new InvalidRequest('subject_token has a malformed may_act claim', { reason: 'subject_token_malformed' });
  }
  const { sub, iss } = mayAct as Record<string, unknown>;
  if (sub !== client.subject || (iss !== undefined && iss !== ourIssuer)) {
    throw new InvalidGrant('the subject token does not allow the calling client to act for its subject (may_act)', { reason: 'may_act_mismatch' });
  }
}

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

  function remainingLifetime(subject: VerifiedSubjectToken): number {
    const left = subject.exp - epochSeconds(deps.now());
    // Under a second left: the new token would be born expired.
    if (left < 1) throw new InvalidRequest('subject_token has expired', { reason: 'subject_token_token_expired' });
    return subject.exp;
  }

  function accessToken(req: TokenRequest, client: Client, policy: TokenExchangePolicy, subject: VerifiedSubjectToken): GrantDecision {
    const earlier = readActorChain(subject.payload.act, deps.config.maxChainDepth);
    if ('problem' in earlier) {
      if (earlier.problem === 'malformed') throw new InvalidRequest('subject_token has a malformed act claim', { reason: 'subject_token_malformed' });
      throw new InvalidGrant(`the actor chain would exceed ${deps.config.maxChainDepth} actors`, { reason: 'chain_too_deep' });
    }
    const act = { sub: client.subject, ...(earlier.chain && { act: earlier.chain }) };
    if (chainLength(act) > deps.config.maxChainDepth) {
      throw new InvalidGrant(`the actor chain would exceed ${deps.config.maxChainDepth} actors`, { reason: 'chain_too_deep' });
    }
    const scopes = decideScopes(req, policy, subject, false);
    const audience = decideAudience(req, policy);
    return {
      kind: 'access_token',
      subject: subject.subject,
      scopes,
      audience,
      act,
      notAfter: remainingLifetime(subject),
      issuedTokenType: TOKEN_TYPE.accessToken,
      audit: { type: 'token.exchanged', details: auditDetails(req, subject, chainSubjects(act), TOKEN_TYPE.accessToken) },
    };
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
    const scopes = decideScopes(req, policy, subject, true);
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
      notAfter: remainingLifetime(subject),
      issuedTokenType: TOKEN_TYPE.txnToken,
      audit: {
        type: 'token.exchanged',
        details: { ...auditDetails(req, subject, String(claims.req_wl).split(' ').reverse(), TOKEN_TYPE.txnToken), txn: claims.txn },
      },
    };
  }

  function auditDetails(req: TokenRequest, subject: VerifiedSubjectToken, chain: string[], issuedType: string): Record<string, unknown> {
    return {
      subject: subject.subject,
      actor_chain: chain,
      subject_issuer: subject.issuer,
      ...(typeof subject.payload.jti === 'string' && { subject_jti: subject.payload.jti }),
      subject_token_type: param(req, 'subject_token_type'),
      requested_token_type: param(req, 'requested_token_type') ?? TOKEN_TYPE.accessToken,
      issued_token_type: issuedType,
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
      checkMayAct(subject.payload, client, deps.config.issuer);
      return txn ? txnToken(req, client, policy, subject) : accessToken(req, client, policy, subject);
    },
  };
}
