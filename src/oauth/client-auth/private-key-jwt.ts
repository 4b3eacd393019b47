import { compactVerify, decodeProtectedHeader, errors as joseErrors, generateKeyPair, jwtVerify, type CryptoKey, type JSONWebKeySet, type JWTPayload } from 'jose';
import type { Client } from '../../clients/client.ts';
import { ASSERTION_SIGNING_ALGS } from '../../clients/method-metadata.ts';
import { epochSeconds, type Clock } from '../../shared/clock.ts';
import { replayEntryExpiry, type ReplayCache } from '../../tokens/replay-cache.ts';
import { InvalidClient, type DenialReason } from '../errors.ts';
import { joseFailureReason } from '../jose-failure.ts';
import type { ClientAuthMethod } from './client-auth-method.ts';
import { localKeySet } from './local-key-set.ts';
import { JwksUnavailable, type RemoteJwksCache } from './remote-jwks.ts';

/** RFC 7523 §3: exp is required and the assertion short-lived; nbf/iat may run ahead by this much. */
const CLOCK_TOLERANCE_SECONDS = 60;
const MAX_LIFETIME_AHEAD_SECONDS = 300;
const MAX_AGE_SECONDS = 3600;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** draft-ietf-oauth-rfc7523bis: client-authentication+jwt, or none; never another JWT type (RFC 8725 §3.11). */
const ACCEPTED_TYP = new Set(['jwt', 'client-authentication+jwt', 'application/client-authentication+jwt']);

export type PrivateKeyJwtDeps = {
  clock: Clock;
  replay: ReplayCache;
  remoteJwks: RemoteJwksCache;
  config: { issuer: string; tokenEndpoint: string };
};

/**
 * A key per algorithm that verifies nothing: an assertion whose kid matches no registered key is
 * checked against it anyway, so "no such key" costs a signature check like "wrong signature" does
 * and timing does not tell which kids a client has registered (RL-03). Made once, on first use.
 */
const decoyKeys = new Map<string, Promise<CryptoKey | undefined>>();
function decoyKey(alg: string): Promise<CryptoKey | undefined> {
  let key = decoyKeys.get(alg);
  if (!key) {
    key = generateKeyPair(alg === 'Ed25519' ? 'EdDSA' : alg, { crv: alg === 'EdDSA' || alg === 'Ed25519' ? 'Ed25519' : undefined } as never)
      .then((pair) => pair.publicKey, () => undefined);
    decoyKeys.set(alg, key);
  }
  return key;
}

async function spendSignatureCheck(jwt: string, alg: string): Promise<void> {
  const key = await decoyKey(alg);
  if (key) await compactVerify(jwt, key).catch(() => undefined);
}

function fail(reason: DenialReason | string, cause?: unknown): InvalidClient {
  return new InvalidClient(reason as DenialReason, cause);
}

/**
 * RFC 7523 §2.2 and §3: the client signs a JWT with a key whose public half it registered (jwks or
 * jwks_uri). Keys come only from the registration: jwk, jku, x5u and x5c headers are never used
 * or fetched (RFC 8725 §3.10). Asymmetric algorithms only, aud a single string naming us,
 * iss = sub = client_id, a short exp, and a jti used once across all instances.
 */
export function createPrivateKeyJwt(deps: PrivateKeyJwtDeps): ClientAuthMethod {
  const { clock, replay, remoteJwks, config } = deps;

  async function keySetFor(client: Client, kid: string | undefined): Promise<JSONWebKeySet> {
    if (client.jwks) return client.jwks;
    if (!client.jwksUri) throw fail('no_registered_keys');
    try {
      return await remoteJwks.forKid(client.jwksUri, kid);
    } catch (error) {
      if (error instanceof JwksUnavailable) throw fail('jwks_uri_unreachable', error);
      throw error;
    }
  }

  return {
    name: 'private_key_jwt',
    mechanism: 'assertion',
    async verify(_req, credentials, record) {
      const jwt = (credentials as { assertion: string }).assertion;
      if (!record) throw fail('unknown_client');
      const { client } = record;
      if (!COMPACT_JWS.test(jwt)) throw fail('assertion_malformed');
      let header;
      try {
        header = decodeProtectedHeader(jwt);
      } catch (error) {
        throw fail('assertion_malformed', error);
      }
      if (header === null || typeof header !== 'object') throw fail('assertion_malformed');
      const algorithms = client.tokenEndpointAuthSigningAlg ? [client.tokenEndpointAuthSigningAlg] : [...ASSERTION_SIGNING_ALGS];
      if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) throw fail('assertion_alg_not_allowed');
      if (header.typ !== undefined && !ACCEPTED_TYP.has(String(header.typ).toLowerCase())) throw fail('assertion_wrong_typ');

      const now = clock.now();
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(jwt, localKeySet(await keySetFor(client, header.kid)), {
          algorithms,
          issuer: client.clientId,
          subject: client.clientId,
          requiredClaims: ['iss', 'sub', 'aud', 'exp', 'jti'],
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          currentDate: now,
        }));
      } catch (error) {
        if (error instanceof InvalidClient) throw error;
        if (error instanceof joseErrors.JWKSNoMatchingKey) await spendSignatureCheck(jwt, header.alg);
        throw fail(joseFailureReason(error, 'assertion'), error);
      }
      // RFC 7523bis: aud is one string, the issuer (or, for older clients, the token endpoint).
      if (typeof payload.aud !== 'string' || (payload.aud !== config.issuer && payload.aud !== config.tokenEndpoint)) throw fail('assertion_wrong_aud');
      const nowSeconds = epochSeconds(now);
      if (payload.exp! > nowSeconds + MAX_LIFETIME_AHEAD_SECONDS + CLOCK_TOLERANCE_SECONDS) throw fail('assertion_exp_too_far');
      if (payload.iat !== undefined && payload.iat < nowSeconds - MAX_AGE_SECONDS) throw fail('assertion_too_old');
      if (typeof payload.jti !== 'string' || payload.jti === '' || payload.jti.length > 255) throw fail('assertion_missing_jti');
      // jose accepts the assertion while exp + tolerance is ahead of the clock; the entry must outlive that.
      if (!(await replay.useOnce(`assertion:${client.clientId}:${payload.jti}`, replayEntryExpiry(payload.exp! + CLOCK_TOLERANCE_SECONDS)))) {
        throw fail('assertion_replayed');
      }
      return { auditDetails: { assertion_jti: payload.jti } };
    },
  };
}
