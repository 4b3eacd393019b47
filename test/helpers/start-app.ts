import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { freePort } from './free-port.ts';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import request from 'supertest';
import { loadConfig, type Config } from '../../src/config/load-config.ts';
import { startService, type RunningService } from '../../src/server.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { createTestClock } from './test-clock.ts';
import { createTestDatabase, type TestDatabase } from './test-database.ts';


export const BOOTSTRAP_SECRET = `bootstrap-${randomBytes(24).toString('base64url')}`;

export type TestService = Awaited<ReturnType<typeof startTestService>>;

export type RegisteredClient = { clientId: string; secret: string; body: Record<string, unknown> };

/**
 * The real service on a free port of 127.0.0.1, on a fresh database (test-database.ts), with its
 * log lines captured for inspection. `env` overrides configuration exactly as environment
 * variables would; it may be built from the port, to name it in an ISSUER, or pick ports of its own.
 * Always call stop() (it also drops the database).
 */
export async function startTestService(
  env: Record<string, string> | ((port: number) => Record<string, string> | Promise<Record<string, string>>) = {},
  shared?: { database: TestDatabase; keysDir: string; migrate?: boolean },
) {
  // Several instances of one deployment share a database and a key-encryption key (keysDir).
  const database: TestDatabase = shared?.database ?? await createTestDatabase();
  const ownsDatabase = !shared;
  const keysDir = shared?.keysDir ?? mkdtempSync(path.join(tmpdir(), 'idb-keys-'));
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const configFor = async (port: number): Promise<Config> => loadConfig({
    NODE_ENV: 'test',
    PORT: String(port),
    ISSUER: `http://127.0.0.1:${port}`,
    HOST: '127.0.0.1',
    DATABASE_URL: database.url,
    KEYS_DIR: keysDir,
    BOOTSTRAP_ADMIN_CLIENT_SECRET: BOOTSTRAP_SECRET,
    LOG_LEVEL: 'debug',
    // Most suites count one token.denied row per refusal; the flood aggregation has its own tests.
    AUDIT_DENIAL_WINDOW: '0',
    ...(typeof env === 'function' ? await env(port) : env),
  });
  const clock = createTestClock();
  let config: Config;
  let service: RunningService;
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    config = await configFor(port);
    try {
      // A second instance running beside the first on one SQLite file cannot migrate (the schema engine
      // locks the file), nor needs to: such callers say migrate: false.
      service = await startService(config, createLogger(config.logLevel, sink), clock, { migrate: shared?.migrate ?? true });
      break;
    } catch (error) {
      // The port was free when it was picked, but the ISSUER must name it before the service binds it,
      // and a test file running beside this one can take it meanwhile: other ports, then (an `env`
      // built by a function picks its own again, such as a METRICS_PORT).
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 3) continue;
      if (ownsDatabase) await database.drop();
      throw error;
    }
  }
  const agent = request(service.url);

  async function tokenFor(clientId: string, secret: string, params: Record<string, string> = {}) {
    const res = await agent.post('/token').auth(clientId, secret).type('form').send({ grant_type: 'client_credentials', ...params });
    if (res.status !== 200) throw new Error(`token request for ${clientId} failed: ${res.status} ${res.text}`);
    return res.body.access_token as string;
  }

  let adminTokenCache: string | undefined;
  async function adminToken(): Promise<string> {
    adminTokenCache ??= await tokenFor(config.bootstrapAdmin.clientId, BOOTSTRAP_SECRET);
    return adminTokenCache;
  }

  /** Registers a client through the admin API; defaults give a client_secret_basic client for https://orders.internal. */
  async function registerClient(body: Record<string, unknown> = {}): Promise<RegisteredClient> {
    const full = {
      client_name: 'test client',
      scope: 'orders:read orders:write',
      audience: ['https://orders.internal'],
      ...body,
    };
    const res = await agent.post('/admin/clients').set('authorization', `Bearer ${await adminToken()}`).send(full);
    if (res.status !== 201) throw new Error(`registration failed: ${res.status} ${res.text}`);
    return { clientId: res.body.client_id, secret: res.body.client_secret, body: res.body };
  }

  /** Audit events newest first, read straight from the store (not through the API under test). */
  async function auditEvents(filter: { type?: string; clientId?: string } = {}) {
    const page = await service.container.uow.stores.audit.list(
      { type: filter.type as never, clientId: filter.clientId },
      { limit: 100 },
    );
    return page.items;
  }

  return {
    config,
    clock,
    database,
    service,
    container: service.container,
    url: service.url,
    agent,
    logLines,
    tokenFor,
    adminToken,
    registerClient,
    auditEvents,
    keysDir,
    async stop() {
      await service.stop(2000);
      if (!ownsDatabase) return;
      await database.drop();
      rmSync(keysDir, { recursive: true, force: true });
    },
  };
}
