import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { verifySampledTokens } from '../../bench/checks/verify-tokens.ts';
import type { Measurement } from '../../bench/load/load-driver.ts';
import type { TokenCheck } from '../../bench/load/token-target.ts';
import { rowFromRounds } from '../../bench/report/result-row.ts';
import { AUDIENCE, generateBenchKey, signAccessToken, type BenchKey } from '../../bench/token-claims.ts';

const ISSUER = 'http://127.0.0.1:1';
const bearer = (token: string) => JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 900 });

function measurement(changes: Partial<Measurement>): Measurement {
  return {
    durationSeconds: 1, tokensPerSecond: 100, statusCounts: { 200: 100 }, non2xx: 0, errors: 0,
    latencyMs: { p50: 1, p99: 2, max: 3 }, peakRssBytes: 1, verification: { checked: 20, failed: 0 }, ...changes,
  };
}

describe('bench response checks: a fast error cannot score', () => {
  let key: BenchKey;
  let server: http.Server;
  let check: TokenCheck;

  before(async () => {
    key = await generateBenchKey('ES256');
    server = http.createServer((_req, res) => res.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: [key.publicJwk] })));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    check = { jwksUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`, issuer: ISSUER, audience: AUDIENCE, alg: 'ES256' };
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('accepts Bearer responses whose tokens verify against the JWKS with the issuer, audience, typ and alg', async () => {
    const bodies = await Promise.all([1, 2, 3].map(async () => bearer(await signAccessToken(key, ISSUER))));
    assert.deepEqual(await verifySampledTokens(bodies, check), { checked: 3, failed: 0 });
  });

  it('counts as failed a token of another issuer, another key, another typ, and a body without a Bearer token', async () => {
    const stranger = await generateBenchKey('ES256', key.kid);
    const wrongTyp = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
      .setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('5m').sign(key.privateKey);
    const bodies = [
      bearer(await signAccessToken(key, 'http://elsewhere')),
      bearer(await signAccessToken(stranger, ISSUER)),
      bearer(wrongTyp),
      JSON.stringify({ access_token: await signAccessToken(key, ISSUER), token_type: 'DPoP' }),
      '{"error":"invalid_client"}',
    ];
    const result = await verifySampledTokens(bodies, check);
    assert.equal(result.checked, 5);
    assert.equal(result.failed, 5);
  });

  it('marks a row FAILED for non-2xx answers, connection errors, failed verifications or no verified token at all', () => {
    const base = { kind: 'service' as const, label: 'identity-backend', alg: 'ES256' as const, auth: 'client_secret_basic' };
    assert.deepEqual(rowFromRounds(base, [measurement({})]).problems, []);
    const refused = rowFromRounds(base, [measurement({ statusCounts: { 200: 10, 401: 5 }, non2xx: 5, firstRefusal: '{"error":"invalid_client"}' })]);
    assert.match(refused.problems.join(), /non-2xx answers: 5×401 \(first: \{"error":"invalid_client"\}\)/);
    assert.match(rowFromRounds(base, [measurement({ errors: 3 })]).problems.join(), /3 connection errors or timeouts/);
    assert.match(rowFromRounds(base, [measurement({ verification: { checked: 20, failed: 1, firstFailure: 'signature verification failed' } })]).problems.join(),
      /1 of 20 sampled tokens failed verification \(signature verification failed\)/);
    assert.match(rowFromRounds(base, [measurement({ verification: { checked: 0, failed: 0 } })]).problems.join(), /no token was verified/);
  });
});
