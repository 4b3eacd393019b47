import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify, type JWK } from 'jose';
import { joseFailureReason } from '../oauth/jose-failure.ts';
import { ASSERTION_SIGNING_ALGS } from '../clients/method-metadata.ts';
import { epochSeconds, type Clock } from '../shared/clock.ts';
import { replayEntryExpiry, type ReplayCache } from './replay-cache.ts';

/** RFC 9449 §4.3: a proof is fresh for a short window around our clock. */
const IAT_WINDOW_SECONDS = 60;

export class InvalidDpopProofError extends Error {
  constructor(readonly reason: string, options?: { cause?: unknown }) {
    super(reason, options);
  }
}

/** What a proof must be bound to: the request it comes with and, at a resource, the access token. */
export type DpopRequest = { htm: string; htu: string; accessToken?: string | undefined };

/**
 * Checks a DPoP proof (RFC 9449 §4.3) and returns the thumbprint of its key (RFC 7638, the cnf.jkt
 * of §6.1): typ dpop+jwt, an asymmetric alg with the public key in the header, htm and htu of this
 * request (htu without query and fragment), a fresh iat, a jti never seen before and, when the
 * proof accompanies an access token (§7.1), ath = base64url(SHA-256(token)).
 */
export function createDpopProofChecker(deps: { clock: Clock; replay: ReplayCache }) {
  return async function checkDpopProof(proof: string, request: DpopRequest): Promise<string> {
    const now = deps.clock.now();
    let payload;
    let jwk: JWK;
    try {
      const result = await jwtVerify(proof, EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms: [...ASSERTION_SIGNING_ALGS],
        requiredClaims: ['jti', 'htm', 'htu', 'iat', ...(request.accessToken === undefined ? [] : ['ath'])],
        currentDate: now,
        clockTolerance: IAT_WINDOW_SECONDS,
      });
      payload = result.payload;
      jwk = result.protectedHeader.jwk!;
    } catch (error) {
      throw new InvalidDpopProofError(joseFailureReason(error, 'dpop'), { cause: error });
    }
    if (payload.htm !== request.htm) throw new InvalidDpopProofError('dpop_wrong_htm');
    if (typeof payload.htu !== 'string' || payload.htu.split(/[?#]/)[0] !== request.htu) throw new InvalidDpopProofError('dpop_wrong_htu');
    if (Math.abs(epochSeconds(now) - payload.iat!) > IAT_WINDOW_SECONDS) throw new InvalidDpopProofError('dpop_stale');
    if (typeof payload.jti !== 'string' || payload.jti.length > 255) throw new InvalidDpopProofError('dpop_missing_jti');
    if (request.accessToken !== undefined && payload.ath !== createHash('sha256').update(request.accessToken, 'ascii').digest('base64url')) {
      throw new InvalidDpopProofError('dpop_wrong_ath');
    }
    const jkt = await calculateJwkThumbprint(jwk, 'sha256');
    // A proof has no exp: it is accepted while the clock's whole seconds are within the window of
    // iat, that is until floor(iat) + window + 1; its entry must outlive that.
    const expires = replayEntryExpiry(Math.floor(payload.iat!) + IAT_WINDOW_SECONDS + 1);
    if (!(await deps.replay.useOnce(`dpop:${jkt}:${payload.jti}`, expires))) throw new InvalidDpopProofError('dpop_replayed');
    return jkt;
  };
}

export type DpopProofChecker = ReturnType<typeof createDpopProofChecker>;

/** The token endpoint's proofs (RFC 9449 §4.3, §5): htm POST, htu our token endpoint, no access token yet. */
export function createDpopVerifier(deps: { clock: Clock; replay: ReplayCache; config: { tokenEndpoint: string } }) {
  const check = createDpopProofChecker(deps);
  return (proof: string): Promise<string> => check(proof, { htm: 'POST', htu: deps.config.tokenEndpoint });
}

export type DpopVerifier = ReturnType<typeof createDpopVerifier>;
