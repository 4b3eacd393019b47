import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export type IdpAlg = 'RS256' | 'PS256' | 'ES256' | 'EdDSA';
type IdpKey = { kid: string; alg: IdpAlg; privateKey: CryptoKey; publicJwk: JWK; published: boolean };

export type SignOptions = {
  /** The signing key's kid (default: the first key); the header names it unless `header.kid` says otherwise. */
  kid?: string;
  /** Sign with this key instead of one of the IdP's (a forger's key). */
  key?: { privateKey: CryptoKey; alg: string };
  header?: Record<string, unknown>;
  now?: Date;
};

/**
 * An external identity provider on 127.0.0.1: keys made with jose, its JWK Set served over HTTP
 * (`/jwks`, and an OpenID discovery document), and tokens signed with them. Keys can be added and
 * withdrawn to play a key rotation; `jwksRequests()` counts the fetches it served.
 */
export async function startFakeIdentityProvider(algs: IdpAlg[] = ['RS256']) {
  const keys: IdpKey[] = [];
  let jwksRequests = 0;
  let jwksStatus = 200;
  const server = http.createServer((req, res) => {
    if (req.url === '/jwks') {
      jwksRequests += 1;
      res.writeHead(jwksStatus, { 'content-type': 'application/jwk-set+json' });
      res.end(jwksStatus === 200 ? JSON.stringify({ keys: keys.filter((k) => k.published).map((k) => k.publicJwk) }) : '{}');
      return;
    }
    if (req.url === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  async function addKey(alg: IdpAlg, published = true): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `${alg.toLowerCase()}-${keys.length + 1}-${randomBytes(4).toString('hex')}`;
    keys.push({ kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }, published });
    return kid;
  }
  for (const alg of algs) await addKey(alg);

  function keyOf(kid: string | undefined): IdpKey {
    const key = kid === undefined ? keys[0] : keys.find((k) => k.kid === kid);
    if (!key) throw new Error(`no key ${kid}`);
    return key;
  }

  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    addKey,
    /** Withdraws a key from the JWK Set (the end of a rotation). */
    withdraw(kid: string) {
      keyOf(kid).published = false;
    },
    publicJwks: () => ({ keys: keys.filter((k) => k.published).map((k) => k.publicJwk) }),
    jwksRequests: () => jwksRequests,
    /** Makes /jwks answer this status (e.g. 500), or 200 again. */
    setJwksStatus(status: number) {
      jwksStatus = status;
    },
    /**
     * A token with iss = this IdP, iat = now, exp = now + 300 and the given claims laid over them; a
     * claim given as undefined is left out.
     */
    async sign(claims: Record<string, unknown>, options: SignOptions = {}): Promise<string> {
      const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
      const payload = Object.fromEntries(Object.entries({ iss: issuer, iat: now, exp: now + 300, ...claims }).filter(([, v]) => v !== undefined));
      const signer = options.key ?? keyOf(options.kid);
      const kid = options.key ? options.kid : keyOf(options.kid).kid;
      return new SignJWT(payload as JWTPayload)
        .setProtectedHeader({ alg: signer.alg, ...(kid !== undefined && { kid }), typ: 'JWT', ...options.header } as never)
        .sign(signer.privateKey);
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export type FakeIdentityProvider = Awaited<ReturnType<typeof startFakeIdentityProvider>>;
