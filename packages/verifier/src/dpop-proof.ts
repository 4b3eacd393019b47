import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, errors as joseErrors, jwtVerify } from 'jose';
import { AccessTokenRejected } from './errors.js';
import type { ReplayStore } from './replay-store.js';

/** Proof algorithms accepted by default: asymmetric only (RFC 9449 §4.3 check 5). */
export const DEFAULT_DPOP_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512', 'EdDSA', 'Ed25519'];
const MAX_PROOF_LENGTH = 8192;

export type DpopProofCheck = {
  proof: string;
  /** The request's method and URL as the caller addressed it (query and fragment are ignored). */
  method: string;
  url: string;
  accessToken: string;
  /** cnf.jkt of the access token. */
  jkt: string;
};

export type DpopOptions = {
  algorithms: readonly string[];
  /** Seconds either side of now within which a proof's iat is accepted. */
  iatWindowSeconds: number;
  replay: ReplayStore;
  now: () => Date;
};

const refuse = (description: string, reason: string, cause?: unknown) =>
  new AccessTokenRejected('invalid_dpop_proof', description, { reason, scheme: 'DPoP', cause });

/** RFC 9449 §4.3 check 9: compare htu without query and fragment, after URL normalisation. */
function sameTarget(htu: unknown, url: string): boolean {
  if (typeof htu !== 'string') return false;
  try {
    const a = new URL(htu);
    const b = new URL(url);
    return a.protocol === b.protocol && a.host === b.host && a.pathname === b.pathname;
  } catch {
    return false;
  }
}

/**
 * A DPoP proof for a protected resource (RFC 9449 §4.3, §7.1): typ dpop+jwt, an asymmetric alg with
 * the public key in the header, htm and htu of this request, an iat within the window, ath the hash
 * of this access token, signed by the key the token is bound to, and a jti used only once.
 */
export async function checkDpopProof(check: DpopProofCheck, options: DpopOptions): Promise<void> {
  if (check.proof.length > MAX_PROOF_LENGTH) throw refuse('the DPoP proof is too large', 'dpop_too_large');
  const now = options.now();
  let payload;
  let jwk;
  try {
    ({ payload, protectedHeader: { jwk } } = await jwtVerify(check.proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: [...options.algorithms],
      requiredClaims: ['jti', 'htm', 'htu', 'iat', 'ath'],
      currentDate: now,
      clockTolerance: options.iatWindowSeconds,
    }));
  } catch (error) {
    const reason = error instanceof joseErrors.JOSEAlgNotAllowed ? 'dpop_alg_not_allowed'
      : error instanceof joseErrors.JWSSignatureVerificationFailed ? 'dpop_bad_signature'
      : error instanceof joseErrors.JWTClaimValidationFailed ? `dpop_claim_${error.claim}_invalid`
      : 'dpop_malformed';
    throw refuse('the DPoP proof is not valid', reason, error);
  }
  if (payload.htm !== check.method) throw refuse('the DPoP proof was made for another method', 'dpop_wrong_htm');
  if (!sameTarget(payload.htu, check.url)) throw refuse('the DPoP proof was made for another URL', 'dpop_wrong_htu');
  const iat = payload.iat!;
  if (Math.abs(now.getTime() / 1000 - iat) > options.iatWindowSeconds) throw refuse('the DPoP proof is not fresh', 'dpop_stale');
  if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 256) throw refuse('the DPoP proof has no usable jti', 'dpop_bad_jti');
  if (payload.ath !== createHash('sha256').update(check.accessToken, 'ascii').digest('base64url')) {
    throw refuse('the DPoP proof was made for another access token', 'dpop_wrong_ath');
  }
  if ((await calculateJwkThumbprint(jwk!, 'sha256')) !== check.jkt) {
    throw refuse('the DPoP proof is not signed by the key the access token is bound to', 'dpop_key_mismatch');
  }
  // A proof is accepted while its iat is within the window of now: remember its jti that long.
  const expiresAt = (iat + options.iatWindowSeconds + 1) * 1000;
  if (!(await options.replay.useOnce(`${check.jkt}:${payload.jti}`, expiresAt))) throw refuse('the DPoP proof has been used before', 'dpop_replayed');
}
