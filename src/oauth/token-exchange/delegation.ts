import type { JWTPayload } from 'jose';
import type { Client, TokenExchangePolicy } from '../../clients/client.ts';
import { epochSeconds } from '../../shared/clock.ts';
import { InvalidGrant, InvalidRequest, InvalidScope, InvalidTarget } from '../errors.ts';
import { requestedTargets } from '../grants/client-credentials.ts';
import type { GrantDecision } from '../grants/grant-handler.ts';
import { parseScope } from '../scope.ts';
import { param, type TokenRequest } from '../token-request.ts';
import { chainLength, chainSubjects, readActorChain } from './actor-chain.ts';
import type { VerifiedSubjectToken } from './subject-token.ts';
import { TOKEN_TYPE } from './token-types.ts';

export type DelegationDeps = {
  now: () => Date;
  /** txnTrustDomain: an exchange policy may list it for Txn-Tokens; it is never an access token's audience. */
  config: { issuer: string; maxChainDepth: number; txnTrustDomain: string };
};

/** What the audit record says about the token a delegation was granted for. */
export type DelegationAudit = { type: 'token.issued' | 'token.exchanged'; subjectTokenType: string; requestedTokenType: string };

/**
 * Scopes only narrow: what the client's policy allows, and, when the subject token carries a scope,
 * only what it carries. Omitted: all of that. `required`: a Txn-Token names its purpose.
 */
export function decideDelegatedScopes(req: TokenRequest, policy: TokenExchangePolicy, subject: VerifiedSubjectToken, required: boolean): string[] {
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

function decideAudience(req: TokenRequest, policy: TokenExchangePolicy, trustDomain: string): string[] {
  const allowed = policy.audience.filter((a) => a !== trustDomain);
  const requested = requestedTargets(req);
  if (requested.length === 0) {
    if (allowed.length === 1) return [allowed[0]!];
    throw new InvalidRequest('name the audience of the new token with audience or resource', { reason: 'audience_required' });
  }
  if (requested.some((t) => !allowed.includes(t))) {
    throw new InvalidTarget('the client\'s exchange policy does not allow tokens for this audience', { reason: 'audience_not_allowed' });
  }
  return requested;
}

/** RFC 8693 §4.4: a subject token naming who may act for it admits only that actor. */
export function checkMayAct(payload: JWTPayload, client: Client, ourIssuer: string): void {
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
 * A token for the next hop on the subject's behalf (RFC 8693 §4.1): sub stays the subject, the
 * calling client becomes the outermost actor with the earlier chain nested inside, the scope and
 * audience come from the request within the policy, and the token never outlives the subject token.
 */
export function createDelegation(deps: DelegationDeps) {
  function remainingLifetime(subject: VerifiedSubjectToken): number {
    // Under a second left: the new token would be born expired.
    if (subject.exp - epochSeconds(deps.now()) < 1) throw new InvalidRequest('subject_token has expired', { reason: 'subject_token_token_expired' });
    return subject.exp;
  }

  function auditDetails(subject: VerifiedSubjectToken, chain: string[], audit: DelegationAudit, issuedType: string): Record<string, unknown> {
    return {
      subject: subject.subject,
      actor_chain: chain,
      subject_issuer: subject.issuer,
      ...(typeof subject.payload.jti === 'string' && { subject_jti: subject.payload.jti }),
      subject_token_type: audit.subjectTokenType,
      requested_token_type: audit.requestedTokenType,
      issued_token_type: issuedType,
    };
  }

  return {
    remainingLifetime,
    auditDetails,

    accessToken(req: TokenRequest, client: Client, policy: TokenExchangePolicy, subject: VerifiedSubjectToken, audit: DelegationAudit): GrantDecision {
      const earlier = readActorChain(subject.payload.act, deps.config.maxChainDepth);
      if ('problem' in earlier) {
        if (earlier.problem === 'malformed') throw new InvalidRequest('subject_token has a malformed act claim', { reason: 'subject_token_malformed' });
        throw new InvalidGrant(`the actor chain would exceed ${deps.config.maxChainDepth} actors`, { reason: 'chain_too_deep' });
      }
      const act = { sub: client.subject, ...(earlier.chain && { act: earlier.chain }) };
      if (chainLength(act) > deps.config.maxChainDepth) {
        throw new InvalidGrant(`the actor chain would exceed ${deps.config.maxChainDepth} actors`, { reason: 'chain_too_deep' });
      }
      checkMayAct(subject.payload, client, deps.config.issuer);
      return {
        kind: 'access_token',
        subject: subject.subject,
        scopes: decideDelegatedScopes(req, policy, subject, false),
        audience: decideAudience(req, policy, deps.config.txnTrustDomain),
        act,
        notAfter: remainingLifetime(subject),
        ...(audit.type === 'token.exchanged' && { issuedTokenType: TOKEN_TYPE.accessToken }),
        audit: { type: audit.type, details: auditDetails(subject, chainSubjects(act), audit, TOKEN_TYPE.accessToken) },
      };
    },
  };
}

export type Delegation = ReturnType<typeof createDelegation>;
