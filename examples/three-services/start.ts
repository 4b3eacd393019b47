import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import express, { type Express } from 'express';
import { createTokenSource, TOKEN_EXCHANGE_GRANT, TokenRequestFailed, type TokenSource } from '../../packages/token-client/src/index.ts';
import { accessTokenOf, createMiddleware, createVerifier, type Verifier } from '../../packages/verifier/src/index.ts';
import { startUserIdentityProvider } from './user-idp.ts';

/**
 * A user signs in with their identity provider and calls A; A calls C, C calls B (the chain of the
 * background documents). Every hop checks what it receives with the verifier and trades it, with the
 * token client, for a token for the next hop (RFC 8693), so B still sees the user and who acted.
 */
export const AUDIENCE = { a: 'https://a.internal', c: 'https://c.internal', b: 'https://b.internal' } as const;
export const SCOPE = 'orders:read';

export type ThreeServicesOptions = {
  /** Where identity-backend answers (default http://localhost:8080). */
  identityUrl?: string;
  /** The bootstrap admin client's id (default admin) and secret. */
  adminClientId?: string;
  adminSecret: string;
  /** Listening ports of A, C, B and the user IdP; 0 (default) takes a free one. */
  ports?: { a?: number; c?: number; b?: number; idp?: number };
  host?: string;
};

export type RunningExample = {
  urls: { a: string; c: string; b: string; idp: string };
  identityIssuer: string;
  idpIssuer: string;
  /** A token of the user IdP for A (as a browser app would hold after sign-in). */
  userToken(claims?: { sub?: string; aud?: string; scope?: string }): Promise<string>;
  /** The calling hops' credentials, for trying the exchanges by hand. */
  clients: { a: { clientId: string; secret: string }; c: { clientId: string; secret: string } };
  stop(): Promise<void>;
};

type Metadata = { issuer: string; token_endpoint: string; jwks_uri: string };

async function json(res: Response, what: string): Promise<Record<string, unknown>> {
  const text = await res.text();
  if (!res.ok) throw new Error(`${what}: ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** The admin API calls the example needs: an admin token, clients (re-created if left from an earlier run), a trusted issuer. */
async function adminSession(identityUrl: string, metadata: Metadata, clientId: string, secret: string) {
  const tokenRes = await fetch(metadata.token_endpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  const adminToken = (await json(tokenRes, 'admin token')).access_token as string;
  const call = (method: string, path: string, body?: unknown) => fetch(`${identityUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return {
    async registerClient(body: { client_id: string } & Record<string, unknown>): Promise<{ clientId: string; secret: string }> {
      let res = await call('POST', '/admin/clients', body);
      if (res.status === 409) {
        await json(await call('DELETE', `/admin/clients/${encodeURIComponent(body.client_id)}`), `removing the earlier ${body.client_id}`).catch(() => undefined);
        res = await call('POST', '/admin/clients', body);
      }
      const created = await json(res, `registering ${body.client_id}`);
      return { clientId: created.client_id as string, secret: created.client_secret as string };
    },
    async trustIssuer(body: Record<string, unknown>): Promise<string> {
      return (await json(await call('POST', '/admin/trusted-issuers', body), 'registering the user IdP as a trusted issuer')).id as string;
    },
    async remove(path: string): Promise<void> {
      await call('DELETE', path).then((r) => r.body?.cancel(), () => undefined);
    },
  };
}

/** What each hop answers: who it sees, and what the next hop answered. */
function describeCaller(req: express.Request, service: string) {
  const token = accessTokenOf(req);
  return { service, sub: token.subject, client_id: token.clientId, scope: token.scopes.join(' '), act: token.claims.act ?? null };
}

/**
 * One hop: GET /orders needs `orders:read` on a token for this hop's audience; a hop with a next one
 * exchanges the token it received for one for the next hop and calls it.
 */
function hopApp(service: string, verifier: Verifier, next?: { url: () => string; audience: string; tokens: TokenSource }): Express {
  const requireToken = createMiddleware(verifier, { realm: service });
  const app = express();
  app.get('/orders', requireToken({ scopes: [SCOPE] }), async (req, res) => {
    const caller = describeCaller(req, service);
    if (!next) {
      res.json(caller);
      return;
    }
    try {
      const forNext = await next.tokens.exchange({ subjectToken: accessTokenOf(req).token, audience: next.audience, scope: SCOPE });
      const url = `${next.url()}/orders`;
      const downstream = await fetch(url, { headers: await next.tokens.headersFor({ method: 'GET', url }, forNext) });
      const body = await downstream.json().catch(() => null);
      if (!downstream.ok) {
        res.status(502).json({ error: 'downstream_refused', status: downstream.status, downstream: body });
        return;
      }
      res.json({ ...caller, next: body });
    } catch (error) {
      if (!(error instanceof TokenRequestFailed)) throw error;
      res.status(502).json({ error: 'token_exchange_failed', status: error.status, oauth_error: error.error });
    }
  });
  return app;
}

function listen(app: Express, port: number, host: string): Promise<{ server: Server; url: string }> {
  return new Promise((resolve, reject) => {
    const server = createServer(app);
    server.once('error', reject);
    server.listen(port, host, () => resolve({ server, url: `http://${host}:${(server.address() as AddressInfo).port}` }));
  });
}

export async function startThreeServices(options: ThreeServicesOptions): Promise<RunningExample> {
  const identityUrl = (options.identityUrl ?? 'http://localhost:8080').replace(/\/$/, '');
  const host = options.host ?? '127.0.0.1';
  const metadata = (await json(await fetch(`${identityUrl}/.well-known/oauth-authorization-server`), `discovery at ${identityUrl}`)) as unknown as Metadata;
  const admin = await adminSession(identityUrl, metadata, options.adminClientId ?? 'admin', options.adminSecret);

  const idp = await startUserIdentityProvider({ host, ...(options.ports?.idp !== undefined && { port: options.ports.idp }) });
  const cleanup: Array<() => Promise<void>> = [() => idp.close()];
  const stop = async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    cleanup.length = 0;
  };
  try {
    // identity-backend accepts the user's token as a subject token only from a trusted issuer, for A's audience.
    const issuerId = await admin.trustIssuer({ issuer: idp.issuer, jwks_uri: idp.jwksUri, audiences: [AUDIENCE.a], algorithms: ['ES256'], description: 'three-services example: user sign-in' });
    cleanup.push(() => admin.remove(`/admin/trusted-issuers/${issuerId}`));

    // Default deny: each hop may exchange only what its policy names. A takes the user's token; C takes A's.
    const exchanger = (clientId: string, ownAudience: string, policy: Record<string, unknown>) => admin.registerClient({
      client_id: clientId, client_name: `three-services example ${clientId}`, audience: [ownAudience], scope: '',
      grant_types: ['client_credentials', TOKEN_EXCHANGE_GRANT], token_exchange: policy,
    });
    const a = await exchanger('svc-a', AUDIENCE.a, { subject_issuers: [idp.issuer], audience: [AUDIENCE.c], scope: 'orders:read orders:write' });
    cleanup.push(() => admin.remove('/admin/clients/svc-a'));
    const c = await exchanger('svc-c', AUDIENCE.c, { subject_issuers: [metadata.issuer], subject_audiences: [AUDIENCE.c], audience: [AUDIENCE.b], scope: 'orders:read orders:write' });
    cleanup.push(() => admin.remove('/admin/clients/svc-c'));

    const source = (client: { clientId: string; secret: string }) => createTokenSource({
      tokenUrl: metadata.token_endpoint, clientId: client.clientId, auth: { method: 'client_secret_basic', clientSecret: client.secret },
    });
    const ours = (audience: string) => createVerifier({ issuer: metadata.issuer, audience, jwksUri: metadata.jwks_uri });

    // Started B first, then C, then A, so each knows the next hop's URL.
    const b = await listen(hopApp('B', ours(AUDIENCE.b)), options.ports?.b ?? 0, host);
    cleanup.push(() => closeServer(b.server));
    const cHop = await listen(hopApp('C', ours(AUDIENCE.c), { url: () => b.url, audience: AUDIENCE.b, tokens: source(c) }), options.ports?.c ?? 0, host);
    cleanup.push(() => closeServer(cHop.server));
    // A checks the user's token against the user IdP's keys: same verifier, another issuer.
    const userVerifier = createVerifier({ issuer: idp.issuer, audience: AUDIENCE.a, jwksUri: idp.jwksUri });
    const aHop = await listen(hopApp('A', userVerifier, { url: () => cHop.url, audience: AUDIENCE.c, tokens: source(a) }), options.ports?.a ?? 0, host);
    cleanup.push(() => closeServer(aHop.server));

    return {
      urls: { a: aHop.url, c: cHop.url, b: b.url, idp: idp.issuer },
      identityIssuer: metadata.issuer,
      idpIssuer: idp.issuer,
      userToken: (claims = {}) => idp.userToken({ sub: claims.sub ?? 'user-42', aud: claims.aud ?? AUDIENCE.a, ...(claims.scope !== undefined && { scope: claims.scope }) }),
      clients: { a, c },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

function adminSecretFromEnvironment(): string {
  if (process.env.IDENTITY_ADMIN_SECRET) return process.env.IDENTITY_ADMIN_SECRET;
  try {
    return readFileSync('keys/bootstrap-admin-secret', 'utf8').split('\n')[0]!.trim();
  } catch {
    throw new Error('no admin secret: set IDENTITY_ADMIN_SECRET or run from the checkout where identity-backend wrote keys/bootstrap-admin-secret');
  }
}

const port = (name: string) => (process.env[name] ? Number(process.env[name]) : 0);

async function main() {
  const running = await startThreeServices({
    identityUrl: process.env.IDENTITY_URL ?? 'http://localhost:8080',
    adminSecret: adminSecretFromEnvironment(),
    ...(process.env.IDENTITY_ADMIN_CLIENT_ID && { adminClientId: process.env.IDENTITY_ADMIN_CLIENT_ID }),
    ports: { a: port('SERVICE_A_PORT'), c: port('SERVICE_C_PORT'), b: port('SERVICE_B_PORT'), idp: port('USER_IDP_PORT') },
  });
  const token = await running.userToken();
  console.log(`user IdP   ${running.urls.idp}  (trusted by ${running.identityIssuer})`);
  console.log(`service A  ${running.urls.a}  aud ${AUDIENCE.a}`);
  console.log(`service C  ${running.urls.c}  aud ${AUDIENCE.c}`);
  console.log(`service B  ${running.urls.b}  aud ${AUDIENCE.b}`);
  console.log('\nA request as user-42 (the token is valid for 15 minutes):\n');
  console.log(`curl -s -H 'authorization: Bearer ${token}' ${running.urls.a}/orders\n`);
  console.log('Ctrl-C stops the services and removes the example clients and trusted issuer.');
  const shutdown = () => {
    running.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
}
