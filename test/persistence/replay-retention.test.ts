import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import type { Client } from '../../src/clients/client.ts';
import { createPrivateKeyJwt } from '../../src/oauth/client-auth/private-key-jwt.ts';
import { createRemoteJwksCache } from '../../src/oauth/client-auth/remote-jwks.ts';
import { InvalidClient } from '../../src/oauth/errors.ts';
import type { TokenRequest } from '../../src/oauth/token-request.ts';
import type { Clock } from '../../src/shared/clock.ts';
import { createDpopVerifier, InvalidDpopProofError } from '../../src/tokens/dpop.ts';
import type { ReplayCache } from '../../src/tokens/replay-cache.ts';
import { forEachReplayCache } from '../helpers/replay-caches.ts';
import { CLIENT_ASSERTION_TYPE, createSigningKey, signAssertion, signDpopProof, type SigningKey } from '../helpers/assertion.ts';

/**
 * A replay-cache entry lives at least as long as its value could still be accepted (AS-02, RFC 7523
 * §3 item 7, RFC 9449 §11.1), pruning included. The clock stands still and is set by the test, so
 * the last accepted instant is hit exactly: jose compares whole seconds, so an assertion with
 * exp = T + 30.01 is still accepted at T + 90.5 (exp + 60 s tolerance, rounded down).
 */

const ISSUER = 'https://issuer.test';
const TOKEN_ENDPOINT = `${ISSUER}/token`;

function standingClock(): Clock & { set(epochSeconds: number): void } {
  let now = Math.floor(Date.now() / 1000) * 1000;
  return { now: () => new Date(now), set: (seconds) => { now = seconds * 1000; } };
}

/** The credentials the pipeline would have parsed from assertionRequest(jwt). */
function assertionCredentials(jwt: string) {
  return { mechanism: 'assertion' as const, clientId: 'c-pkj', assertion: jwt };
}

function assertionRequest(jwt: string): TokenRequest {
  return {
    params: new Map([['client_assertion_type', [CLIENT_ASSERTION_TYPE]], ['client_assertion', [jwt]]]),
    authorization: undefined,
    context: { requestId: 'replay-retention', sourceAddress: undefined },
    certificate: () => ({ channel: false, untrustedForwarded: false }),
    dpop: undefined,
  };
}

/** Uses that make the database cache prune its expired entries (it does every 500 uses). */
async function forcePrune(cache: ReplayCache, clock: Clock): Promise<void> {
  for (let i = 0; i < 500; i++) await cache.useOnce(`filler-${randomUUID()}`, new Date(clock.now().getTime() + 600_000));
}

function retentionSuite(name: string, make: (clock: Clock) => ReplayCache) {
  describe(`${name} replay cache behind the verifiers`, () => {
    let key: SigningKey;
    before(async () => {
      key = await createSigningKey('ES256');
    });

    it('AS-02 refuses an assertion replayed at the last instant its fractional exp (plus tolerance) still allows, after pruning', async () => {
      const clock = standingClock();
      const cache = make(clock);
      const method = createPrivateKeyJwt({
        clock,
        replay: cache,
        remoteJwks: createRemoteJwksCache({ timeoutMs: 1000, ttlMs: 1000, cooldownMs: 1000, maxBytes: 1024, allowInsecure: false }),
        config: { issuer: ISSUER, tokenEndpoint: TOKEN_ENDPOINT },
      });
      const client = { clientId: 'c-pkj', jwks: { keys: [key.publicJwk] }, jwksUri: null, tokenEndpointAuthSigningAlg: null } as unknown as Client;
      const record = { client, secrets: [] };
      const t = clock.now().getTime() / 1000;
      const jwt = await signAssertion({ clientId: 'c-pkj', audience: ISSUER, key, now: t, claims: { exp: t + 30.01 } });
      await method.verify(assertionRequest(jwt), assertionCredentials(jwt), record);

      clock.set(t + 90.5);
      await forcePrune(cache, clock);
      await assert.rejects(method.verify(assertionRequest(jwt), assertionCredentials(jwt), record), (error: unknown) => {
        assert.ok(error instanceof InvalidClient, String(error));
        assert.equal(error.reason, 'assertion_replayed');
        return true;
      });
      // A second later jose itself refuses it: the window the entry had to cover has ended.
      clock.set(t + 91);
      await assert.rejects(method.verify(assertionRequest(jwt), assertionCredentials(jwt), record), (error: unknown) => error instanceof InvalidClient && String(error.reason) !== 'assertion_replayed');
    });

    it('AS-02 refuses a DPoP proof (no exp) replayed at the last instant of its iat window, after pruning', async () => {
      const clock = standingClock();
      const cache = make(clock);
      const verify = createDpopVerifier({ clock, replay: cache, config: { tokenEndpoint: TOKEN_ENDPOINT } });
      const iat = clock.now().getTime() / 1000;
      const proof = await signDpopProof({ key, htu: TOKEN_ENDPOINT, now: iat });
      await verify(proof);

      clock.set(iat + 60.999);
      await forcePrune(cache, clock);
      await assert.rejects(verify(proof), (error: unknown) => error instanceof InvalidDpopProofError && error.reason === 'dpop_replayed');
      clock.set(iat + 61);
      await assert.rejects(verify(proof), (error: unknown) => error instanceof InvalidDpopProofError && error.reason === 'dpop_stale');
    });
  });
}

forEachReplayCache('replay-cache retention', retentionSuite);
