import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWSHeaderParameters, type JWTPayload } from 'jose';
import { localKeySet } from '../oauth/client-auth/local-key-set.ts';
import { JwksUnavailable, type RemoteJwksCache } from '../oauth/client-auth/remote-jwks.ts';
import { epochSeconds } from '../shared/clock.ts';
import type { TrustedIssuer } from './trusted-issuer.ts';
import type { TrustedIssuerRegistry } from './trusted-issuer-registry.ts';

/**
 * Refused before anything is decoded: an ID token or access token with many claims is a few KiB;
 * this bounds the base64 and JSON work an unauthenticated caller can ask for.
 */
export const MAX_EXTERNAL_TOKEN_LENGTH = 16_384;
/**
 * Clock skew allowed between us and an external issuer, on exp, nbf and iat: the same minute as
 * private_key_jwt assertions (RFC 7519 §4.1.4 "some small leeway").
 */
export const EXTERNAL_TOKEN_CLOCK_TOLERANCE_SECONDS = 60;
/** The longest subject accepted: SPIFFE IDs and e-mail subjects fit with room; it ends up in our tokens and audit records. */
export const MAX_EXTERNAL_SUBJECT_LENGTH = 1024;

/** Three base64url segments; the third may be empty so that `alg: none` is refused as such. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const CONTROL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/** Why an external token was refused: for the audit record, never for the caller's eyes alone to decide on. */
export type ExternalTokenRejectionReason =
  | 'token_too_large'
  | 'token_malformed'
  | 'unknown_issuer'
  | 'alg_not_allowed'
  | 'jwks_unavailable'
  | 'unknown_key'
  | 'invalid_signature'
  | 'exp_missing'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'token_too_old'
  | 'audience_mismatch'
  | 'subject_missing'
  | 'subject_invalid';

export type ExternalTokenCheck = {
  token: string;
  /** The service clock's now. */
  now: Date;
  /** Audiences accepted besides the issuer's registered ones (e.g. our issuer or token endpoint for a client assertion). */
  audiences?: readonly string[];
  /**
   * A SPIFFE JWT-SVID (draft-ietf-oauth-spiffe-client-auth §4.1): the issuer is the trust domain of
   * its sub (spiffe://<trust domain>), looked up by that, and its iss, optional there, is not compared.
   */
  spiffe?: boolean;
};

export type VerifiedExternalToken = {
  issuer: TrustedIssuer;
  /** The value of the issuer's subject claim. */
  subject: string;
  payload: JWTPayload;
  header: JWSHeaderParameters;
};

/**
 * A token that is not a valid token of a trusted issuer. `message` is safe to show the caller (it
 * never repeats the token or its claims); `reason` is for the audit record.
 */
export class ExternalTokenRejected extends Error {
  constructor(message: string, readonly reason: ExternalTokenRejectionReason, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export type ExternalTokenVerifierDeps = {
  issuers: Pick<TrustedIssuerRegistry, 'find'>;
  remoteJwks: Pick<RemoteJwksCache, 'forKid'>;
  clockToleranceSeconds?: number;
};

const reject = (reason: ExternalTokenRejectionReason, message: string, cause?: unknown) => new ExternalTokenRejected(message, reason, { cause });

/** jose's verification errors, by class, as rejection reasons (signature first: claims of an unverified token mean nothing). */
function joseRejection(error: unknown): ExternalTokenRejected {
  if (error instanceof joseErrors.JWKSNoMatchingKey) return reject('unknown_key', 'the token is signed by a key its issuer does not publish', error);
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return reject('invalid_signature', 'the token signature is not valid', error);
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return reject('alg_not_allowed', 'the token is signed with an algorithm its issuer may not use', error);
  if (error instanceof joseErrors.JWTExpired) return reject('token_expired', 'the token has expired', error);
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'exp' && error.reason === 'missing') return reject('exp_missing', 'the token has no exp claim', error);
    if (error.claim === 'nbf' && error.reason === 'check_failed') return reject('token_not_yet_valid', 'the token is not valid yet', error);
    if (error.claim === 'iss') return reject('unknown_issuer', 'the token is not issued by a trusted issuer', error);
  }
  return reject('token_malformed', 'the token is not a well-formed signed JWT', error);
}

/** spiffe://<trust domain> of a SPIFFE ID (SPIFFE ID §2), or undefined when `sub` is not one. */
export function spiffeTrustDomainOf(sub: unknown): string | undefined {
  if (typeof sub !== 'string') return undefined;
  const match = /^spiffe:\/\/([a-z0-9._-]{1,255})\/[^?#]*$/.exec(sub);
  return match ? `spiffe://${match[1]}` : undefined;
}

/**
 * A SPIFFE bundle marks its JWT-SVID keys use "jwt-svid" (SPIFFE Trust Domain and Bundle §4.2.2), which
 * jose would skip as not "sig": keep those (and unmarked ones) as signature keys, drop X.509-SVID roots.
 * One derived set per fetched bundle object, so its jose key set is built once.
 */
const svidKeySets = new WeakMap<JSONWebKeySet, JSONWebKeySet>();
function jwtSvidKeys(bundle: JSONWebKeySet): JSONWebKeySet {
  let keys = svidKeySets.get(bundle);
  if (!keys) {
    keys = {
      keys: bundle.keys.filter((k) => k.use === undefined || k.use === 'sig' || k.use === 'jwt-svid').map(({ use: _use, ...k }) => k),
    };
    svidKeySets.set(bundle, keys);
  }
  return keys;
}

/**
 * Verifies JWTs of trusted external issuers (token-exchange subject and actor tokens, federated
 * client assertions). Everything before the signature check only finds the issuer and its keys: the
 * token's length is bounded first, `iss` is read from the unverified payload only to look the issuer
 * up, the algorithm must be one the issuer registered (never none or HMAC), and keys come only from
 * the registration (jwks, or jwks_uri through the same bounded, cached fetch as private_key_jwt);
 * jku, x5u, jwk and x5c headers are never used (RFC 8725 §3.10). After the signature: exp required,
 * nbf/iat not in the future, the issuer's max token age, an accepted audience, and the subject claim.
 */
export function createExternalTokenVerifier(deps: ExternalTokenVerifierDeps) {
  const tolerance = deps.clockToleranceSeconds ?? EXTERNAL_TOKEN_CLOCK_TOLERANCE_SECONDS;

  async function keysOf(issuer: TrustedIssuer, kid: string | undefined): Promise<JSONWebKeySet> {
    if (issuer.jwks) return issuer.jwks;
    try {
      return await deps.remoteJwks.forKid(issuer.jwksUri!, kid);
    } catch (error) {
      if (error instanceof JwksUnavailable) throw reject('jwks_unavailable', 'the keys of the token issuer cannot be fetched right now', error);
      throw error;
    }
  }

  function checkClaims(issuer: TrustedIssuer, payload: JWTPayload, check: ExternalTokenCheck): string {
    const now = epochSeconds(check.now);
    if (payload.iat !== undefined && payload.iat > now + tolerance) throw reject('token_not_yet_valid', 'the token is issued in the future');
    if (issuer.maxTokenAge !== null) {
      if (payload.iat === undefined) throw reject('token_too_old', 'the token has no iat claim, so its age cannot be bounded');
      if (payload.exp! - payload.iat > issuer.maxTokenAge) throw reject('token_too_old', 'the token lives longer than its issuer allows');
      if (now - payload.iat > issuer.maxTokenAge + tolerance) throw reject('token_too_old', 'the token is older than its issuer allows');
    }
    const aud = typeof payload.aud === 'string' ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud : [];
    const accepted = (a: unknown) => typeof a === 'string' && (issuer.audiences.includes(a) || (check.audiences?.includes(a) ?? false));
    if (!aud.some(accepted)) throw reject('audience_mismatch', 'the token is not issued for an accepted audience');
    const subject = (payload as Record<string, unknown>)[issuer.subjectClaim];
    if (typeof subject !== 'string' || subject === '') throw reject('subject_missing', `the token has no ${issuer.subjectClaim} claim naming its subject`);
    if (subject.length > MAX_EXTERNAL_SUBJECT_LENGTH || CONTROL.test(subject)) throw reject('subject_invalid', 'the token subject is too long or holds control characters');
    return subject;
  }

  async function verify(check: ExternalTokenCheck): Promise<VerifiedExternalToken> {
    const { token } = check;
    if (typeof token !== 'string' || token.length > MAX_EXTERNAL_TOKEN_LENGTH) {
      throw reject(typeof token === 'string' ? 'token_too_large' : 'token_malformed', `the token must be a JWT of at most ${MAX_EXTERNAL_TOKEN_LENGTH} characters`);
    }
    if (!COMPACT_JWS.test(token)) throw reject('token_malformed', 'the token is not a compact JWS');
    let header: JWSHeaderParameters;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token) as JWSHeaderParameters;
      unverified = decodeJwt(token);
    } catch (error) {
      throw reject('token_malformed', 'the token is not a well-formed JWT', error);
    }
    if (header === null || typeof header !== 'object' || typeof header.alg !== 'string') throw reject('token_malformed', 'the token header names no algorithm');
    const lookup = check.spiffe ? spiffeTrustDomainOf(unverified.sub) : unverified.iss;
    if (typeof lookup !== 'string') throw reject('token_malformed', check.spiffe ? 'the token sub is not a SPIFFE ID' : 'the token has no iss claim');
    const issuer = await deps.issuers.find(lookup);
    if (issuer && Boolean(check.spiffe) !== issuer.issuer.startsWith('spiffe:')) throw reject('unknown_issuer', 'the token is not issued by a trusted issuer');
    if (!issuer || issuer.disabled) throw reject('unknown_issuer', 'the token is not issued by a trusted issuer');
    if (!(issuer.algorithms as readonly string[]).includes(header.alg)) throw reject('alg_not_allowed', 'the token is signed with an algorithm its issuer may not use');

    const jwks = await keysOf(issuer, typeof header.kid === 'string' ? header.kid : undefined);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, localKeySet(check.spiffe ? jwtSvidKeys(jwks) : jwks), {
        algorithms: issuer.algorithms,
        ...(!check.spiffe && { issuer: issuer.issuer }),
        requiredClaims: ['exp'],
        clockTolerance: tolerance,
        currentDate: check.now,
      }));
    } catch (error) {
      throw joseRejection(error);
    }
    return { issuer, subject: checkClaims(issuer, payload, check), payload, header };
  }

  return { verify };
}

export type ExternalTokenVerifier = ReturnType<typeof createExternalTokenVerifier>;
