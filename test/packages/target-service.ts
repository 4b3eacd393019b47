import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import { accessTokenOf, createMiddleware, type MiddlewareOptions, type Verifier } from '../../packages/verifier/src/index.ts';

/**
 * A target service as a team would write one with the verifier: Express 5, the middleware in front
 * of each route with that route's scopes, the route reading the verified token.
 */
export type Target = { url: string; close(): Promise<void> };

export function targetApp(verifier: Verifier, options: MiddlewareOptions = {}): Express {
  const requireToken = createMiddleware(verifier, { realm: 'orders', ...options });
  const app = express();
  const describe = (req: express.Request) => {
    const auth = accessTokenOf(req);
    return { sub: auth.subject, client_id: auth.clientId, scopes: auth.scopes, actors: auth.actors, binding: auth.binding ?? null, active: auth.introspection?.active ?? null };
  };
  app.get('/orders', requireToken({ scopes: ['orders:read'] }), (req, res) => {
    res.json(describe(req));
  });
  app.post('/orders', requireToken({ scopes: ['orders:write'] }), (req, res) => {
    res.status(201).json(describe(req));
  });
  app.post('/refunds', requireToken({ scopes: ['orders:write'], introspect: true }), (req, res) => {
    res.status(201).json(describe(req));
  });
  return app;
}

function listening(server: Server, scheme: 'http' | 'https'): Promise<Target> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `${scheme}://127.0.0.1:${port}`,
        close: () => new Promise<void>((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
      });
    });
  });
}

export function startTarget(verifier: Verifier, options: MiddlewareOptions = {}): Promise<Target> {
  return listening(createServer(targetApp(verifier, options)), 'http');
}

/** The target on its own TLS listener, asking for (not requiring) a client certificate. */
export function startTlsTarget(verifier: Verifier, tls: { certPem: string; keyPem: string }, options: MiddlewareOptions = {}): Promise<Target> {
  const server = createHttpsServer({ cert: tls.certPem, key: tls.keyPem, requestCert: true, rejectUnauthorized: false }, targetApp(verifier, options));
  return listening(server as unknown as Server, 'https');
}

/** A fetch for a JWKS over https with a private CA (the global fetch knows only the system CAs). */
export function fetchTrusting(ca: string): typeof fetch {
  return ((input: string | URL | Request, init?: RequestInit) => new Promise<Response>((resolve, reject) => {
    const url = input instanceof Request ? input.url : String(input);
    const req = httpsRequest(url, { ca, headers: init?.headers as Record<string, string> }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) if (typeof value === 'string') headers.set(name, value);
        const body = res.statusCode === 304 ? null : Buffer.concat(chunks);
        resolve(new Response(body, { status: res.statusCode!, headers }));
      });
    });
    req.on('error', reject);
    req.end();
  })) as typeof fetch;
}

/** A fetch that counts the requests it makes. */
export function countingFetch(inner: typeof fetch = fetch): typeof fetch & { count: number } {
  const counted = (async (input: string | URL | Request, init?: RequestInit) => {
    counted.count++;
    return inner(input, init);
  }) as typeof fetch & { count: number };
  counted.count = 0;
  return counted;
}

/** What the target's routes answer (and, for a refusal, the error body). */
export type TargetBody = {
  sub: string; client_id: string; scopes: string[]; actors: unknown[];
  binding: { method: string; jkt?: string; x5tS256?: string } | null; active: boolean | null;
  error?: string; error_description?: string;
};
export const bodyOf = async (res: Response) => (await res.json()) as TargetBody;
