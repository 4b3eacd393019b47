import type { JWTPayload } from 'jose';
import type { TokenExchangePolicy } from '../../clients/client.ts';
import { OwnTokenRejected, type OwnTokenVerifier } from '../../tokens/own-token-verifier.ts';
import { ExternalTokenRejected, type ExternalTokenVerifier as ExternalTokens } from '../../issuers/external-token-verifier.ts';
import { InvalidRequest, UnauthorizedClient } from '../errors.ts';
import { jwsPayloadText, nestingExceeds } from './json-nesting.ts';
import { TOKEN_TYPE } from './token-types.ts';

/** A trusted external issuer's verification (src/issuers/): its `subject` is the claim the registration maps to sub. */
export type ExternalTokenVerifier = Pick<ExternalTokens, 'verify'>;

export type VerifiedSubjectToken = {
  /** Who the token is about: the sub of the token to issue. */
  subject: string;
  issuer: string;
  /** Signed by this service (an earlier hop's token, or a Txn-Token). */
  own: boolean;
  payload: JWTPayload;
  exp: number;
  /** The scope the token carries, or undefined when it carries none (an ID token). */
  scopes: string[] | undefined;
};

/**
 * Deepest JSON nesting a subject token may have: an act chain of TOKEN_EXCHANGE_MAX_DEPTH actors, a
 * Txn-Token's bounded contexts and cnf all fit well below it; anything deeper is refused unparsed.
 */
const MAX_PAYLOAD_NESTING = 40;

export type SubjectTokenDeps = {
  verifyOwnToken: OwnTokenVerifier;
  externalTokens: ExternalTokenVerifier;
  now: () => Date;
  config: { issuer: string; txnTrustDomain: string };
};

function invalid(description: string, reason: string, cause?: unknown): InvalidRequest {
  // RFC 8693 §2.2.2: an invalid subject or actor token is invalid_request.
  return new InvalidRequest(description, { reason: reason as `subject_token_${string}`, cause });
}

/** The scope a token carries: RFC 8693 §4.2 scope, or the scp array some providers use instead. */
function scopesOf(payload: JWTPayload): string[] | undefined {
  if (typeof payload.scope === 'string') return payload.scope.split(' ').filter(Boolean);
  if (Array.isArray(payload.scp) && payload.scp.every((s) => typeof s === 'string')) return payload.scp as string[];
  return undefined;
}

/**
 * Reads and verifies a subject_token for its declared type: bounded before anything is parsed; a
 * token of this service is verified against our keys (its audience must be one the client's policy
 * names as its own); any other issuer must be one the policy allows and a registered trusted issuer.
 */
export function createSubjectTokenReader(deps: SubjectTokenDeps) {
  function unverifiedIssuer(token: string, label: string): string {
    const text = jwsPayloadText(token);
    if (text === undefined) throw invalid(`${label} is not a signed JWT`, `${label}_malformed`);
    if (nestingExceeds(text, MAX_PAYLOAD_NESTING)) throw invalid(`${label} is nested too deeply`, `${label}_too_deep`);
    // The text is already decoded for the nesting check: parse it, rather than decode it again.
    let payload: JWTPayload;
    try {
      payload = JSON.parse(text) as JWTPayload;
    } catch (error) {
      throw invalid(`${label} is not a valid JWT`, `${label}_malformed`, error);
    }
    if (payload === null || typeof payload !== 'object' || typeof payload.iss !== 'string' || payload.iss === '') {
      throw invalid(`${label} has no issuer`, `${label}_malformed`);
    }
    return payload.iss;
  }

  async function verifyOwn(token: string, label: string, check: Parameters<OwnTokenVerifier>[1]): Promise<JWTPayload> {
    try {
      return await deps.verifyOwnToken(token, check);
    } catch (error) {
      if (!(error instanceof OwnTokenRejected)) throw error;
      const reason = error.reason === 'claim_aud_invalid' && check.typ === 'txntoken+jwt' ? 'wrong_trust_domain' : `${label}_${error.reason}`;
      throw invalid(`${label} is not valid: ${error.message}`, reason, error);
    }
  }

  return {
    async subject(token: string, type: string, policy: TokenExchangePolicy, opts: { externalOnly?: boolean } = {}): Promise<VerifiedSubjectToken> {
      const iss = unverifiedIssuer(token, 'subject_token');
      if (opts.externalOnly && iss === deps.config.issuer) {
        throw invalid('the assertion must come from a trusted issuer, not from this service', 'subject_token_own_issuer');
      }
      if (!policy.subjectIssuers.includes(iss)) {
        throw new UnauthorizedClient('the client may not exchange tokens from this issuer', { reason: 'issuer_not_allowed' });
      }
      if (iss === deps.config.issuer) {
        if (type === TOKEN_TYPE.idToken) throw invalid('this service issues no ID tokens', 'subject_token_type_mismatch');
        const txn = type === TOKEN_TYPE.txnToken;
        if (!txn && policy.subjectAudiences.length === 0) {
          throw new UnauthorizedClient('the client names no audience of its own (subject_audiences) to accept tokens of this service for', { reason: 'issuer_not_allowed' });
        }
        const payload = await verifyOwn(token, 'subject_token', txn
          ? { typ: 'txntoken+jwt', audience: deps.config.txnTrustDomain, requiredClaims: ['sub', 'txn', 'req_wl', 'scope'] }
          : { typ: 'at+jwt', audience: policy.subjectAudiences, requiredClaims: ['sub', 'client_id', 'jti'] });
        return { subject: payload.sub!, issuer: iss, own: true, payload, exp: payload.exp!, scopes: scopesOf(payload) };
      }
      if (type === TOKEN_TYPE.txnToken) throw invalid('a Txn-Token of another trust domain is not accepted', 'wrong_trust_domain');
      let verified;
      try {
        verified = await deps.externalTokens.verify({ token, now: deps.now() });
      } catch (error) {
        if (!(error instanceof ExternalTokenRejected)) throw error;
        const reason = error.reason;
        if (reason === 'unknown_issuer') throw new InvalidRequest('the issuer of the subject_token is not trusted', { reason: 'unknown_issuer', cause: error });
        throw invalid(`subject_token is not valid: ${error.message}`, `subject_token_${reason}`, error);
      }
      if (typeof verified.payload.exp !== 'number') throw invalid('subject_token has no exp', 'subject_token_malformed');
      return { subject: verified.subject, issuer: iss, own: false, payload: verified.payload, exp: verified.payload.exp, scopes: scopesOf(verified.payload) };
    },

    /** An actor_token: a token this service issued; the caller checks whose it is. */
    async actor(token: string): Promise<JWTPayload> {
      const iss = unverifiedIssuer(token, 'actor_token');
      if (iss !== deps.config.issuer) throw invalid('actor_token must be an access token this service issued to the calling client', 'actor_token_foreign');
      return verifyOwn(token, 'actor_token', { typ: 'at+jwt', requiredClaims: ['sub', 'client_id'] });
    },
  };
}

export type SubjectTokenReader = ReturnType<typeof createSubjectTokenReader>;
