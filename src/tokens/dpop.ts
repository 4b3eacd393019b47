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

/**
 * Checks a DPoP proof for POST /token (RFC 9449 §4.3) and returns the JWK thumbprint the token is
 * bound to (cnf.jkt, §6.1): typ dpop+jwt, an asymmetric alg with the public key in the header,
 * htm POST, htu our token endpoint, a fresh iat, and a jti never seen before.
 */
export function createDpopVerifier(deps: { clock: Clock; replay: ReplayCache; config: { tokenEndpoint: string } }) {
  return async function verifyDpopProof(proof: string): Promise<string> {
    const now = deps.clock.now();
    let payload;
    let jwk: JWK;
    try {
      const result = await jwtVerify(proof, EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms: [...ASSERTION_SIGNING_ALGS],
        requiredClaims: ['jti', 'htm', 'htu', 'iat'],
        currentDate: now,
        clockTolerance: IAT_WINDOW_SECONDS,
      });
      payload = result.payload;
      jwk = result.protectedHeader.jwk!;
    } catch (error) {
      throw new InvalidDpopProofError(joseFailureReason(error, 'dpop'), { cause: error });
    }
    if (payload.htm !== 'POST') throw new InvalidDpopProofError('dpop_wrong_htm');
    if (typeof payload.htu !== 'string' || payload.htu.split(/[?#]/)[0] !== deps.config.tokenEndpoint) throw new InvalidDpopProofError('dpop_wrong_htu');
    if (Math.abs(epochSeconds(now) - payload.iat!) > IAT_WINDOW_SECONDS) throw new InvalidDpopProofError('dpop_stale');
    if (typeof payload.jti !== 'string' || payload.jti.length > 255) throw new InvalidDpopProofError('dpop_missing_jti');
    const jkt = await calculateJwkThumbprint(jwk, 'sha256');
    // A proof has no exp: it is accepted while the clock's whole seconds are within the window of
    // iat, that is until floor(iat) + window + 1; its entry must outlive that.
    const expires = replayEntryExpiry(Math.floor(payload.iat!) + IAT_WINDOW_SECONDS + 1);
    if (!(await deps.replay.useOnce(`dpop:${jkt}:${payload.jti}`, expires))) throw new InvalidDpopProofError('dpop_replayed');
    return jkt;
  };
}

export type DpopVerifier = ReturnType<typeof createDpopVerifier>;
