import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

/**
 * A stand-in for the user's identity provider (Auth0, Okta, Keycloak…): one ES256 key, its JWK Set at
 * /jwks, and RFC 9068 access tokens for a signed-in user. Real providers issue the same shape of
 * token; only the sign-in is left out.
 */
export async function startUserIdentityProvider(options: { port?: number; host?: string } = {}) {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const kid = `user-idp-${randomUUID().slice(0, 8)}`;
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] });
  const host = options.host ?? '127.0.0.1';

  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'max-age=300' }).end(jwks);
      return;
    }
    if (req.method === 'GET' && req.url === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const issuer = `http://${host}:${(server.address() as AddressInfo).port}`;

  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    /** An access token for `sub`, as the provider's web app would receive it after sign-in. */
    userToken(claims: { sub: string; aud: string; scope?: string; lifetimeSeconds?: number }): Promise<string> {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ client_id: 'web-app', scope: claims.scope ?? 'orders:read orders:write' })
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
        .setIssuer(issuer)
        .setSubject(claims.sub)
        .setAudience(claims.aud)
        .setIssuedAt(now)
        .setExpirationTime(now + (claims.lifetimeSeconds ?? 900))
        .setJti(randomUUID())
        .sign(privateKey);
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export type UserIdentityProvider = Awaited<ReturnType<typeof startUserIdentityProvider>>;
