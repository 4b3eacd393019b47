import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { CLIENT_ASSERTION_TYPE, createSigningKey, signAssertion, type SigningKey } from '../../helpers/assertion.ts';
import { startTestService, type RegisteredClient, type TestService } from '../../helpers/start-app.ts';

/** SECURITY-CASES RL-03: 2,000 samples of each kind of refusal. */
const SAMPLES = 2_000;
const WARM_UP = 100;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Two-sided p of Welch's t-test; with thousands of samples the t distribution is the normal one. */
function welchP(a: number[], b: number[]): number {
  const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
  const variance = (x: number[], m: number) => x.reduce((s, v) => s + (v - m) ** 2, 0) / (x.length - 1);
  const ma = mean(a);
  const mb = mean(b);
  const t = (ma - mb) / Math.sqrt(variance(a, ma) / a.length + variance(b, mb) / b.length);
  // Abramowitz and Stegun 7.1.26 for erf.
  const z = Math.abs(t) / Math.SQRT2;
  const k = 1 / (1 + 0.3275911 * z);
  const erf = 1 - (((((1.061405429 * k - 1.453152027) * k) + 1.421413741) * k - 0.284496736) * k + 0.254829592) * k * Math.exp(-z * z);
  return 1 - erf;
}

/**
 * Times two kinds of refused request, interleaved (alternating which goes first, so drift and load
 * from elsewhere hit both alike), over one kept-alive connection each.
 */
async function compare(ctx: { diagnostic(message: string): void }, label: string, a: () => Promise<number>, b: () => Promise<number>) {
  for (let i = 0; i < WARM_UP; i++) {
    await a();
    await b();
  }
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    if (i % 2) {
      ta.push(await a());
      tb.push(await b());
    } else {
      tb.push(await b());
      ta.push(await a());
    }
  }
  const difference = Math.abs(median(ta) - median(tb));
  const p = welchP(ta, tb);
  const summary = `${label}: median ${median(ta).toFixed(3)} ms vs ${median(tb).toFixed(3)} ms (difference ${difference.toFixed(3)} ms), Welch p ${p.toFixed(3)}`;
  ctx.diagnostic(summary);
  // The catalogue's criterion: a median difference under 1 ms, or no significant difference at all.
  assert.ok(difference < 1 || p > 0.01, summary);
}

describe('RL-03 refusals take as long whatever was wrong (2,000 samples each)', () => {
  let t: TestService;
  let known: RegisteredClient;
  let key: SigningKey;

  before(async () => {
    t = await startTestService({ RATE_LIMIT_AUTH_FAILURES: '0', RATE_LIMIT_TOKEN_PER_ADDRESS: '0' });
    known = await t.registerClient({ client_id: 'c-timing' });
    key = await createSigningKey('ES256');
    await t.registerClient({ client_id: 'c-timing-pkj', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ ...key.publicJwk, kid: key.kid }] } });
  });
  after(() => t.stop());

  async function timed(init: RequestInit, expected = 401): Promise<number> {
    const start = performance.now();
    const res = await fetch(`${t.url}/token`, { method: 'POST', ...init });
    await res.arrayBuffer();
    const elapsed = performance.now() - start;
    assert.equal(res.status, expected);
    return elapsed;
  }
  const basic = (id: string, secret: string) => timed({
    headers: { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  const wrongSecret = () => randomBytes(32).toString('base64url');

  it('an unknown client id, and the right id with a wrong secret of the same length', async (ctx) => {
    const unknownId = () => `u-${randomBytes(3).toString('hex')}`; // as long as "c-timing"
    assert.equal(unknownId().length, known.clientId.length);
    await compare(ctx, 'unknown id vs wrong secret', () => basic(unknownId(), wrongSecret()), () => basic(known.clientId, wrongSecret()));
  });

  it('a wrong secret sharing the first 20 characters of the right one, and one sharing none', async (ctx) => {
    const prefixed = () => known.secret.slice(0, 20) + wrongSecret().slice(20);
    await compare(ctx, '20-character prefix vs random', () => basic(known.clientId, prefixed()), () => basic(known.clientId, wrongSecret()));
  });

  it('a wrong secret of another length, and one of the right length', async (ctx) => {
    await compare(ctx, 'other length vs same length', () => basic(known.clientId, wrongSecret() + 'xyz'), () => basic(known.clientId, wrongSecret()));
  });

  it('an assertion with an unknown kid, and one with a bad signature', async (ctx) => {
    const other = await createSigningKey('ES256');
    const assertion = (jwt: string) => timed({
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: jwt }).toString(),
    });
    const unknownKid = () => signAssertion({ clientId: 'c-timing-pkj', audience: t.config.issuer, key, header: { kid: `k-${randomBytes(4).toString('hex')}` } });
    const badSignature = () => signAssertion({ clientId: 'c-timing-pkj', audience: t.config.issuer, key, signWith: other.privateKey });
    // Signed ahead: the test's own signing is not part of what is timed.
    const pools = { unknownKid: [] as string[], badSignature: [] as string[] };
    for (let i = 0; i < SAMPLES + WARM_UP; i++) {
      pools.unknownKid.push(await unknownKid());
      pools.badSignature.push(await badSignature());
    }
    await compare(ctx, 'unknown kid vs bad signature', () => assertion(pools.unknownKid.pop()!), () => assertion(pools.badSignature.pop()!));
  });
});
