import { BlockList, isIP } from 'node:net';
import path from 'node:path';
import { DEFAULT_DATABASE_URL, parseDatabaseUrl, type DatabaseTarget } from '../persistence/database-target.ts';
import { configSchema, type SigningAlg } from './config-schema.ts';

export class ConfigError extends Error {}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** The validated, derived configuration; frozen, read once at start-up. */
export type Config = Readonly<{
  production: boolean;
  port: number;
  host: string;
  issuer: string;
  tokenEndpoint: string;
  jwksUri: string;
  adminAudience: string;
  database: DatabaseTarget;
  keysDir: string;
  keyEncryptionKey: Buffer | undefined;
  signingAlg: SigningAlg;
  accessTokenTtl: number;
  maxAccessTokenTtl: number;
  keyRotationInterval: number;
  keyPrepublish: number;
  jwksMaxAge: number;
  keySyncInterval: number;
  trustedProxies: readonly string[];
  rateLimits: Readonly<{ tokenPerClient: number; tokenPerAddress: number; authFailures: number; admin: number }>;
  bootstrapAdmin: Readonly<{ clientId: string; secret: string | undefined }>;
  logLevel: LogLevel;
  shutdownTimeout: number;
}>;

function fail(variable: string, message: string): never {
  throw new ConfigError(`${variable}: ${message}`);
}

function parseTrustedProxies(text: string | undefined): string[] {
  if (!text) return [];
  const entries = text.split(',').map((s) => s.trim()).filter(Boolean);
  const probe = new BlockList();
  for (const entry of entries) {
    // A second "/" ("10.0.0.0/8/9") would pass here and only fail later, inside Express's proxy-addr.
    const [address, prefix, ...rest] = entry.split('/');
    const family = isIP(address ?? '');
    if (family === 0 || rest.length > 0 || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) {
      fail('TRUSTED_PROXIES', `expected addresses or CIDR ranges, got "${entry}"`);
    }
    try {
      if (prefix !== undefined) probe.addSubnet(address!, Number(prefix), family === 6 ? 'ipv6' : 'ipv4');
    } catch {
      fail('TRUSTED_PROXIES', `"${entry}" is not a valid CIDR range`);
    }
  }
  return entries;
}

function decodeKey(text: string | undefined): Buffer | undefined {
  if (text === undefined) return undefined;
  return /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64url');
}

/** Reads and checks the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const relevant = Object.fromEntries(
    Object.keys(configSchema.shape).filter((k) => env[k] !== undefined && env[k] !== '').map((k) => [k, env[k]]),
  );
  const parsed = configSchema.safeParse(relevant);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'configuration');
    fail(variable, issue.code === 'invalid_value' ? `expected one of ${(issue as { values: unknown[] }).values.join(', ')}, got "${relevant[variable]}"` : issue.message);
  }
  const v = parsed.data;
  const production = v.NODE_ENV === 'production';

  if (v.ACCESS_TOKEN_TTL > v.MAX_ACCESS_TOKEN_TTL) fail('ACCESS_TOKEN_TTL', `must not exceed MAX_ACCESS_TOKEN_TTL (${v.MAX_ACCESS_TOKEN_TTL}s)`);
  if (v.KEY_PREPUBLISH >= v.KEY_ROTATION_INTERVAL) fail('KEY_PREPUBLISH', 'must be shorter than KEY_ROTATION_INTERVAL');
  if (v.JWKS_MAX_AGE >= v.KEY_PREPUBLISH) fail('JWKS_MAX_AGE', 'must be shorter than KEY_PREPUBLISH, so caches see a new key before it signs');
  if (v.KEY_SYNC_INTERVAL * 2 > v.KEY_PREPUBLISH) fail('KEY_SYNC_INTERVAL', 'must be at most half of KEY_PREPUBLISH, so every instance has the next key well before it signs');
  if (production && !v.KEY_ENCRYPTION_KEY) fail('KEY_ENCRYPTION_KEY', 'required when NODE_ENV=production');

  const databaseUrl = v.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const database = parseDatabaseUrl(databaseUrl, cwd) ?? fail('DATABASE_URL', 'expected file:<path> (SQLite) or postgresql://…');
  const issuer = v.ISSUER ?? `http://localhost:${v.PORT}`;

  return Object.freeze({
    production,
    port: v.PORT,
    host: v.HOST,
    issuer,
    tokenEndpoint: `${issuer}/token`,
    jwksUri: `${issuer}/.well-known/jwks.json`,
    adminAudience: `${issuer}/admin`,
    database,
    keysDir: path.resolve(cwd, v.KEYS_DIR),
    keyEncryptionKey: decodeKey(v.KEY_ENCRYPTION_KEY),
    signingAlg: v.SIGNING_ALG,
    accessTokenTtl: v.ACCESS_TOKEN_TTL,
    maxAccessTokenTtl: v.MAX_ACCESS_TOKEN_TTL,
    keyRotationInterval: v.KEY_ROTATION_INTERVAL,
    keyPrepublish: v.KEY_PREPUBLISH,
    jwksMaxAge: v.JWKS_MAX_AGE,
    keySyncInterval: v.KEY_SYNC_INTERVAL,
    trustedProxies: Object.freeze(parseTrustedProxies(v.TRUSTED_PROXIES)),
    rateLimits: Object.freeze({
      tokenPerClient: v.RATE_LIMIT_TOKEN_PER_CLIENT,
      tokenPerAddress: v.RATE_LIMIT_TOKEN_PER_ADDRESS,
      authFailures: v.RATE_LIMIT_AUTH_FAILURES,
      admin: v.RATE_LIMIT_ADMIN,
    }),
    bootstrapAdmin: Object.freeze({ clientId: v.BOOTSTRAP_ADMIN_CLIENT_ID, secret: v.BOOTSTRAP_ADMIN_CLIENT_SECRET }),
    logLevel: v.LOG_LEVEL,
    shutdownTimeout: v.SHUTDOWN_TIMEOUT,
  });
}
