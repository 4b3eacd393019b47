import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeProtectedHeader, type JWK } from 'jose';
import jwt from 'jsonwebtoken';
import jwksClient from 'jwks-rsa';
import { BOOTSTRAP_SECRET, startTestService, type RegisteredClient, type TestService } from '../helpers/start-app.ts';
import { FAST_KEY_LIFECYCLE } from '../helpers/fast-key-lifecycle.ts';

const ORDERS = 'https://orders.internal';
const WORKERS = 8;
const ROTATIONS = 4;
/** Load keeps running this long after the last rotation, so the last key signs many tokens too. */
const TAIL_MS = 1500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type KeyInfo = { kid: string; state: string; created_at: string };

/**
 * A verifier that caches like a resource server which honours Cache-Control and nothing else: it
 * refetches only when its copy is older than the max-age it was given, never on an unknown kid. It
 * can verify every token only if each key was published at least a max-age before it signed (KR-01).
 */
function createMaxAgeCache(jwksUri: string) {
  let cached: { kids: Set<string>; expiresAt: number } | undefined;
  let refreshing: Promise<void> | undefined;
  let fetches = 0;
  async function refresh(): Promise<void> {
    const res = await fetch(jwksUri);
    const maxAge = Number(/max-age=(\d+)/.exec(res.headers.get('cache-control') ?? '')?.[1]);
    assert.ok(maxAge > 0, 'the JWKS carries a max-age');
    const { keys } = (await res.json()) as { keys: JWK[] };
    fetches += 1;
    cached = { kids: new Set(keys.map((k) => k.kid!)), expiresAt: Date.now() + maxAge * 1000 };
  }
  return {
    async knows(kid: string): Promise<boolean> {
      if (!cached || Date.now() >= cached.expiresAt) {
        refreshing ??= refresh().finally(() => (refreshing = undefined));
        await refreshing;
      }
      return cached!.kids.has(kid);
    },
    fetches: () => fetches,
  };
}

describe('KR-03 rotation under continuous concurrent issuance, one instance', () => {
  let t: TestService;
  let client: RegisteredClient;

  before(async () => {
    t = await startTestService({ ...FAST_KEY_LIFECYCLE, LOG_LEVEL: 'warn' });
    client = await t.registerClient();
  });
  after(() => t.stop());

  it(`KR-03 KR-01 KR-02 rotates ${ROTATIONS} times while ${WORKERS} loops issue tokens: every token verifies at a jwks-rsa verifier and at a max-age cache, no 5xx`, async () => {
    const jwksUri = `${t.url}/.well-known/jwks.json`;
    let jwksRsaFetches = 0;
    // jwks-rsa as resource servers run it: a long cache, refetching only for a kid it has not seen.
    const jwksRsa = jwksClient({
      jwksUri,
      cache: true,
      cacheMaxAge: 10 * 60_000,
      fetcher: async (uri) => {
        jwksRsaFetches += 1;
        return (await fetch(uri)).json() as Promise<{ keys: JWK[] }>;
      },
    });
    const maxAgeCache = createMaxAgeCache(jwksUri);
    const authorization = `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.secret)}`).toString('base64')}`;

    let stop = false;
    let checked = 0;
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    const signingKids = new Set<string>();

    async function worker(): Promise<void> {
      while (!stop) {
        const res = await fetch(`${t.url}/token`, {
          method: 'POST',
          headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials',
        });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status !== 200) {
          failures.push(`POST /token answered ${res.status}: ${await res.text()}`);
          continue;
        }
        const token = ((await res.json()) as { access_token: string }).access_token;
        const kid = decodeProtectedHeader(token).kid!;
        signingKids.add(kid);
        try {
          const key = await jwksRsa.getSigningKey(kid);
          jwt.verify(token, key.getPublicKey(), { algorithms: ['RS256'], issuer: t.config.issuer, audience: ORDERS });
          if (!(await maxAgeCache.knows(kid))) failures.push(`kid ${kid} signed before a cache honouring max-age could hold it`);
        } catch (error) {
          failures.push(`kid ${kid}: ${(error as Error).message}`);
        }
        checked += 1;
      }
    }

    async function listKeys(): Promise<KeyInfo[]> {
      const admin = await t.tokenFor(t.config.bootstrapAdmin.clientId, BOOTSTRAP_SECRET);
      const res = await t.agent.get('/admin/keys').set('authorization', `Bearer ${admin}`);
      assert.equal(res.status, 200, res.text);
      return res.body.items;
    }

    const workers = Array.from({ length: WORKERS }, () => worker());
    const started = Date.now();
    const promoted: string[] = [];
    try {
      for (let i = 0; i < ROTATIONS; i++) {
        // A manual rotation is allowed once the next key has been published for KEY_PREPUBLISH.
        const next = (await listKeys()).find((k) => k.state === 'next')!;
        await sleep(Math.max(0, Date.parse(next.created_at) + t.config.keyPrepublish * 1000 + 50 - Date.now()));
        const admin = await t.tokenFor(t.config.bootstrapAdmin.clientId, BOOTSTRAP_SECRET);
        const res = await t.agent.post('/admin/keys/rotate').set('authorization', `Bearer ${admin}`);
        assert.equal(res.status, 200, res.text);
        const keys = res.body.items as KeyInfo[];
        assert.deepEqual(keys.filter((k) => k.state === 'active').map((k) => k.kid), [next.kid]);
        assert.equal(keys.filter((k) => k.state === 'next').length, 1);
        promoted.push(next.kid);
      }
      await sleep(TAIL_MS);
    } finally {
      stop = true;
      await Promise.all(workers);
    }
    const seconds = (Date.now() - started) / 1000;
    console.log(`rotation under load: ${checked} tokens checked in ${seconds.toFixed(1)} s by ${WORKERS} loops, ${promoted.length} rotations, `
      + `${failures.length} verification failures, ${jwksRsaFetches} jwks-rsa fetches, ${maxAgeCache.fetches()} max-age cache fetches`);

    assert.deepEqual(failures.slice(0, 10), []);
    assert.deepEqual([...statuses.keys()], [200]);
    assert.equal(promoted.length, ROTATIONS);
    // Every promoted key signed tokens, and nothing else did but the first active key.
    for (const kid of promoted) assert.ok(signingKids.has(kid), `no token was signed by ${kid}`);
    assert.equal(signingKids.size, ROTATIONS + 1);
    assert.ok(checked >= 200, `only ${checked} tokens were checked`);
    // jwks-rsa refetched once per new kid, not per token.
    assert.ok(jwksRsaFetches <= signingKids.size + WORKERS, `${jwksRsaFetches} jwks-rsa fetches`);

    // One active key, one new key per rotation, and each key event exactly once per key.
    const keys = await listKeys();
    assert.equal(keys.filter((k) => k.state === 'active').length, 1);
    assert.equal(keys.length, 2 + ROTATIONS);
    const count = async (type: string) => (await t.auditEvents({ type })).length;
    assert.deepEqual(
      { created: await count('key.created'), activated: await count('key.activated'), retired: await count('key.retired'), revoked: await count('key.revoked') },
      { created: 2 + ROTATIONS, activated: 1 + ROTATIONS, retired: ROTATIONS, revoked: 0 },
    );
    const activated = (await t.auditEvents({ type: 'key.activated' })).map((e) => e.kid);
    assert.equal(new Set(activated).size, activated.length);
  });
});
