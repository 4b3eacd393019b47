import { randomBytes } from 'node:crypto';
import { freePort } from '../../test/helpers/free-port.ts';
import { FORM_CONTENT_TYPE, type TokenCheck, type TokenTarget } from '../load/token-target.ts';
import type { ServiceTuning, SigningAlg } from '../options.ts';
import { startServerProcess, type ServerProcess } from '../process/server-process.ts';
import { serviceArgs } from '../runtime.ts';
import {
  AUDIENCE, BENCH_CLIENT_ID, BENCH_JWT_CLIENT_ID, basicAuthorization, generateBenchKey, SCOPE, TOKEN_REQUEST_BODY, type BenchKey,
} from '../token-claims.ts';
import type { BenchDatabase } from './bench-database.ts';

export type BenchService = {
  server: ServerProcess;
  issuer: string;
  check: TokenCheck;
  /** The client_secret_basic client's requests. */
  basicTarget: TokenTarget;
  /** The private_key_jwt client: its key signs the assertions, one per request. */
  jwtClient: { clientId: string; key: BenchKey };
  /** The private_key_jwt client's requests, each body from `nextBody`. */
  jwtTarget(nextBody: () => string): TokenTarget;
};

export type ServiceSpec = { alg: SigningAlg; database: BenchDatabase; workers: number; tuning: ServiceTuning };

/** `node dist/main.js` as in production, audit on, rate limits off, then the bench clients registered. */
export async function startBenchService(spec: ServiceSpec): Promise<BenchService> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const adminSecret = randomBytes(32).toString('base64url');
  const server = await startServerProcess({
    name: `identity-backend (${spec.database.kind}, ${spec.alg}, ${spec.workers} worker${spec.workers === 1 ? '' : 's'})`,
    nodeArgs: serviceArgs(spec.tuning.cpuProfileDir),
    port,
    env: {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      ISSUER: issuer,
      DATABASE_URL: spec.database.url,
      KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      SIGNING_ALG: spec.alg,
      BOOTSTRAP_ADMIN_CLIENT_SECRET: adminSecret,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_TOKEN_PER_CLIENT: '0',
      RATE_LIMIT_TOKEN_PER_ADDRESS: '0',
      WEB_CONCURRENCY: String(spec.workers),
      // The default durability (a WAL sync per commit) unless BENCH_SQLITE_SYNCHRONOUS asks otherwise.
      ...(spec.tuning.sqliteSynchronous && { SQLITE_SYNCHRONOUS: spec.tuning.sqliteSynchronous }),
    },
    readyPath: '/readyz',
  });
  try {
    const check: TokenCheck = { jwksUrl: `${server.url}/.well-known/jwks.json`, issuer, audience: AUDIENCE, alg: spec.alg };
    const admin = await adminApi(server.url, adminSecret);
    const { client_secret: secret } = await admin.register({ client_name: 'bench', client_id: BENCH_CLIENT_ID, scope: SCOPE, audience: [AUDIENCE] });
    if (typeof secret !== 'string') throw new Error('the admin API answered no client_secret for the client_secret_basic client');
    // The client's assertion key has the token's algorithm: one kind of key per row of the table.
    const key = await generateBenchKey(spec.alg);
    await admin.register({
      client_name: 'bench-jwt', client_id: BENCH_JWT_CLIENT_ID, token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [key.publicJwk] }, scope: SCOPE, audience: [AUDIENCE],
    });
    const tokenUrl = `${server.url}/token`;
    return {
      server,
      issuer,
      check,
      basicTarget: { tokenUrl, headers: { ...FORM_CONTENT_TYPE, authorization: basicAuthorization(BENCH_CLIENT_ID, secret) }, body: TOKEN_REQUEST_BODY, check, pid: server.pid },
      jwtClient: { clientId: BENCH_JWT_CLIENT_ID, key },
      jwtTarget: (nextBody) => ({ tokenUrl, headers: { ...FORM_CONTENT_TYPE }, body: nextBody, check, pid: server.pid }),
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

async function adminApi(url: string, adminSecret: string) {
  const tokenResponse = await fetch(`${url}/token`, {
    method: 'POST',
    headers: { ...FORM_CONTENT_TYPE, authorization: basicAuthorization('admin', adminSecret) },
    body: 'grant_type=client_credentials',
  });
  if (!tokenResponse.ok) throw new Error(`admin token: HTTP ${tokenResponse.status} ${await tokenResponse.text()}`);
  const { access_token: adminToken } = await tokenResponse.json() as { access_token: string };
  return {
    async register(metadata: Record<string, unknown>): Promise<{ client_secret?: string }> {
      const response = await fetch(`${url}/admin/clients`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
        body: JSON.stringify(metadata),
      });
      if (response.status !== 201) throw new Error(`registering ${String(metadata.client_id)}: HTTP ${response.status} ${await response.text()}`);
      return await response.json() as { client_secret?: string };
    },
  };
}
