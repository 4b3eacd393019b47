import { randomBytes } from 'node:crypto';
import { freePort } from '../../test/helpers/free-port.ts';
import { FORM_CONTENT_TYPE, type TokenTarget } from '../load/token-target.ts';
import type { SigningAlg } from '../options.ts';
import { startServerProcess, type ServerProcess } from '../process/server-process.ts';
import { benchModuleArgs } from '../runtime.ts';
import { AUDIENCE, BENCH_CLIENT_ID, basicAuthorization, TOKEN_REQUEST_BODY } from '../token-claims.ts';

export type RunningReference = { server: ServerProcess; target: TokenTarget };

/** The bare Express 5 + jose endpoint: parse, sign, answer. It checks no credentials at all. */
export async function startExpressFloor(alg: SigningAlg): Promise<RunningReference> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const server = await startServerProcess({
    name: `Express + jose (${alg})`,
    nodeArgs: benchModuleArgs('references/express-jose-server'),
    port,
    env: { NODE_ENV: 'production', ISSUER: issuer, ALG: alg },
    readyPath: '/.well-known/jwks.json',
  });
  return {
    server,
    target: {
      tokenUrl: `${server.url}/token`,
      headers: { ...FORM_CONTENT_TYPE, authorization: basicAuthorization(BENCH_CLIENT_ID, 'unchecked') },
      body: TOKEN_REQUEST_BODY,
      check: { jwksUrl: `${server.url}/.well-known/jwks.json`, issuer, audience: AUDIENCE, alg },
      pid: server.pid,
    },
  };
}

/** node-oidc-provider with one client_secret_basic client and JWT access tokens for AUDIENCE. */
export async function startOidcProvider(alg: SigningAlg): Promise<RunningReference> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const secret = randomBytes(32).toString('base64url');
  const server = await startServerProcess({
    name: `node-oidc-provider (${alg})`,
    nodeArgs: benchModuleArgs('references/oidc-provider-server'),
    port,
    env: { NODE_ENV: 'production', ISSUER: issuer, ALG: alg, CLIENT_SECRET: secret },
    readyPath: '/.well-known/openid-configuration',
  });
  return {
    server,
    target: {
      tokenUrl: `${server.url}/token`,
      headers: { ...FORM_CONTENT_TYPE, authorization: basicAuthorization(BENCH_CLIENT_ID, secret) },
      body: TOKEN_REQUEST_BODY,
      check: { jwksUrl: `${server.url}/jwks`, issuer, audience: AUDIENCE, alg },
      pid: server.pid,
    },
  };
}
