import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import path from 'node:path';
import { DEFAULT_DATABASE_URL, parseDatabaseUrl, type DatabaseTarget } from '../persistence/database-target.ts';
import { availableCpus } from '../cluster/worker-count.ts';
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
  /** CONFIRM_ISSUER_CHANGE: the previous issuer an operator confirmed moving away from. */
  confirmedIssuerChange: string | undefined;
  database: DatabaseTarget;
  keysDir: string;
  keyEncryptionKey: Buffer | undefined;
  /** KEY_ENCRYPTION_KEYS_PREVIOUS: earlier keys that still open and verify, never seal. */
  previousKeyEncryptionKeys: readonly Buffer[];
  signingAlg: SigningAlg;
  accessTokenTtl: number;
  maxAccessTokenTtl: number;
  /** federated_jwt: the longest-lived assertion accepted when its issuer sets no max_token_age. */
  maxFederatedAssertionLifetime: number;
  /** Most actors an exchanged token's act chain may name. */
  tokenExchangeMaxDepth: number;
  txnTokenTtl: number;
  /** The aud of every Txn-Token (the draft's trust domain). */
  txnTrustDomain: string;
  keyRotationInterval: number;
  keyPrepublish: number;
  jwksMaxAge: number;
  keySyncInterval: number;
  trustedProxies: readonly string[];
  rateLimits: Readonly<{ tokenPerClient: number; tokenPerAddress: number; authFailures: number; admin: number }>;
  bootstrapAdmin: Readonly<{ clientId: string; secret: string | undefined }>;
  /** The HTTPS listener's certificate and key (PEM), when configured. */
  tls: Readonly<{ cert: Buffer; key: Buffer }> | undefined;
  /** Trust anchors for client certificates (TLS_CLIENT_CA_FILE). */
  clientCaCertificates: readonly X509Certificate[];
  trustedClientCertHeader: 'x-forwarded-client-cert' | 'client-cert' | undefined;
  /** Peers believed in trustedClientCertHeader; TRUSTED_PROXIES (X-Forwarded-For) does not count here. */
  trustedClientCertProxies: readonly string[];
  /** XFCC: exactly one element (Envoy SANITIZE_SET), or the last of several (APPEND_FORWARD). */
  trustedClientCertElements: 'one' | 'last';
  trustProxyVerifiedIdentity: boolean;
  allowInsecureJwksUri: boolean;
  redisUrl: string | undefined;
  /** Every Redis key and the change channel start with it (REDIS_KEY_PREFIX). */
  redisKeyPrefix: string;
  /** Seconds a TLS handshake may take (TLS_HANDSHAKE_TIMEOUT). */
  tlsHandshakeTimeout: number;
  /** Open connections per listener; 0 = no cap. */
  maxConnections: number;
  logLevel: LogLevel;
  shutdownTimeout: number;
  /** The private metrics listener, when configured. */
  metricsPort: number | undefined;
  /** Dependency bounds in milliseconds (docs/reliability.md). */
  timeouts: Readonly<{ databaseConnect: number; databaseStatement: number; databaseIdle: number; redisConnect: number; redisCommand: number }>;
  sqliteSynchronous: 'full' | 'normal';
  /** Worker processes (cluster mode when above 1). */
  webConcurrency: number;
  /** Seconds: retention of audit events, checkpoint period, denial aggregation window (0 = off). */
  audit: Readonly<{ retention: number; checkpointInterval: number; denialWindow: number }>;
  /** Clients and audiences labelled by name in the per-client token metrics. */
  metricsTopClients: number;
  /** Tokens per client per hour and per day; 0 = no quota. */
  tokenQuota: Readonly<{ perHour: number; perDay: number }>;
}>;

function fail(variable: string, message: string): never {
  throw new ConfigError(`${variable}: ${message}`);
}

function parseTrustedProxies(variable: string, text: string | undefined): string[] {
  if (!text) return [];
  const entries = text.split(',').map((s) => s.trim()).filter(Boolean);
  const probe = new BlockList();
  for (const entry of entries) {
    // A second "/" ("10.0.0.0/8/9") would pass here and only fail later, inside Express's proxy-addr.
    const [address, prefix, ...rest] = entry.split('/');
    const family = isIP(address ?? '');
    if (family === 0 || rest.length > 0 || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) {
      fail(variable, `expected addresses or CIDR ranges, got "${entry}"`);
    }
    try {
      if (prefix !== undefined) probe.addSubnet(address!, Number(prefix), family === 6 ? 'ipv6' : 'ipv4');
    } catch {
      fail(variable, `"${entry}" is not a valid CIDR range`);
    }
  }
  return entries;
}

function readFile(variable: string, file: string, cwd: string): Buffer {
  try {
    return readFileSync(path.resolve(cwd, file));
  } catch {
    return fail(variable, `cannot read ${file}`);
  }
}

function loadTls(certFile: string | undefined, keyFile: string | undefined, cwd: string): Config['tls'] {
  if (!certFile && !keyFile) return undefined;
  if (!certFile) fail('TLS_CERT_FILE', 'required when TLS_KEY_FILE is set');
  if (!keyFile) fail('TLS_KEY_FILE', 'required when TLS_CERT_FILE is set');
  const cert = readFile('TLS_CERT_FILE', certFile, cwd);
  const key = readFile('TLS_KEY_FILE', keyFile, cwd);
  try {
    new X509Certificate(cert);
  } catch {
    fail('TLS_CERT_FILE', `${certFile} holds no PEM certificate`);
  }
  try {
    createPrivateKey(key);
  } catch {
    fail('TLS_KEY_FILE', `${keyFile} holds no PEM private key`);
  }
  return Object.freeze({ cert, key });
}

function loadCaFile(file: string, cwd: string): X509Certificate[] {
  const pems = readFile('TLS_CLIENT_CA_FILE', file, cwd).toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (!pems.length) fail('TLS_CLIENT_CA_FILE', `${file} holds no PEM certificate`);
  try {
    return pems.map((pem) => new X509Certificate(pem));
  } catch {
    return fail('TLS_CLIENT_CA_FILE', `${file} holds an unreadable certificate`);
  }
}

function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

function decodeKey(text: string | undefined): Buffer | undefined {
  if (text === undefined) return undefined;
  return /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64url');
}

/** The earlier key-encryption keys: only beside an explicit current key, each once, none equal to it. */
function parsePreviousKeys(text: string | undefined, current: Buffer | undefined): Buffer[] {
  if (text === undefined) return [];
  if (!current) fail('KEY_ENCRYPTION_KEYS_PREVIOUS', 'requires KEY_ENCRYPTION_KEY (the key that replaces them)');
  const keys = text.split(',').map((part) => decodeKey(part.trim())!);
  keys.forEach((key, index) => {
    if (key.equals(current)) fail('KEY_ENCRYPTION_KEYS_PREVIOUS', `key ${index + 1} is KEY_ENCRYPTION_KEY itself`);
    if (keys.findIndex((other) => other.equals(key)) !== index) fail('KEY_ENCRYPTION_KEYS_PREVIOUS', `key ${index + 1} is listed twice`);
  });
  return keys;
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
  // A load balancer trusted for client addresses is not thereby trusted to assert certificates.
  const trustedProxies = parseTrustedProxies('TRUSTED_PROXIES', v.TRUSTED_PROXIES);
  const trustedClientCertProxies = parseTrustedProxies('TRUSTED_CLIENT_CERT_PROXIES', v.TRUSTED_CLIENT_CERT_PROXIES);
  if (v.TRUSTED_CLIENT_CERT_HEADER && !trustedClientCertProxies.length) {
    fail('TRUSTED_CLIENT_CERT_PROXIES', 'required when TRUSTED_CLIENT_CERT_HEADER is set: the proxies trusted to forward client certificates (TRUSTED_PROXIES covers X-Forwarded-For only)');
  }
  if (!v.TRUSTED_CLIENT_CERT_HEADER && trustedClientCertProxies.length) fail('TRUSTED_CLIENT_CERT_PROXIES', 'has no effect without TRUSTED_CLIENT_CERT_HEADER');
  if (v.TRUSTED_CLIENT_CERT_ELEMENTS === 'last' && v.TRUSTED_CLIENT_CERT_HEADER !== 'x-forwarded-client-cert') {
    fail('TRUSTED_CLIENT_CERT_ELEMENTS', 'last requires TRUSTED_CLIENT_CERT_HEADER=x-forwarded-client-cert');
  }
  if (v.TRUST_PROXY_VERIFIED_IDENTITY && v.TRUSTED_CLIENT_CERT_HEADER !== 'x-forwarded-client-cert') {
    fail('TRUST_PROXY_VERIFIED_IDENTITY', 'requires TRUSTED_CLIENT_CERT_HEADER=x-forwarded-client-cert');
  }
  if (production && v.ALLOW_INSECURE_JWKS_URI) fail('ALLOW_INSECURE_JWKS_URI', 'must not be true when NODE_ENV=production');
  if (production && !v.KEY_ENCRYPTION_KEY) fail('KEY_ENCRYPTION_KEY', 'required when NODE_ENV=production');
  const keyEncryptionKey = decodeKey(v.KEY_ENCRYPTION_KEY);
  const previousKeyEncryptionKeys = parsePreviousKeys(v.KEY_ENCRYPTION_KEYS_PREVIOUS, keyEncryptionKey);

  if (v.METRICS_PORT !== undefined && v.METRICS_PORT !== 0 && v.METRICS_PORT === v.PORT) fail('METRICS_PORT', 'must differ from PORT');
  const databaseUrl = v.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const database = parseDatabaseUrl(databaseUrl, cwd) ?? fail('DATABASE_URL', 'expected file:<path> (SQLite) or postgresql://…');
  const issuer = v.ISSUER ?? `http://localhost:${v.PORT}`;
  // RFC 8414 §2: the issuer is an https URL that verifiers can reach; a production TLS listener
  // announcing http:// or a loopback name is a deployment that forgot to set ISSUER.
  if (production && (v.TLS_CERT_FILE || v.TLS_KEY_FILE) && (!issuer.startsWith('https:') || isLoopbackHost(new URL(issuer).hostname))) {
    fail('ISSUER', `must be the public https:// URL of this service when NODE_ENV=production serves TLS, got "${issuer}"`);
  }

  if (v.TXN_TOKEN_TRUST_DOMAIN === `${issuer}/admin`) fail('TXN_TOKEN_TRUST_DOMAIN', 'must not be the admin audience');

  return Object.freeze({
    production,
    port: v.PORT,
    host: v.HOST,
    issuer,
    tokenEndpoint: `${issuer}/token`,
    jwksUri: `${issuer}/.well-known/jwks.json`,
    adminAudience: `${issuer}/admin`,
    confirmedIssuerChange: v.CONFIRM_ISSUER_CHANGE,
    database,
    keysDir: path.resolve(cwd, v.KEYS_DIR),
    keyEncryptionKey,
    previousKeyEncryptionKeys: Object.freeze(previousKeyEncryptionKeys),
    signingAlg: v.SIGNING_ALG,
    accessTokenTtl: v.ACCESS_TOKEN_TTL,
    maxAccessTokenTtl: v.MAX_ACCESS_TOKEN_TTL,
    maxFederatedAssertionLifetime: v.FEDERATED_ASSERTION_MAX_LIFETIME,
    tokenExchangeMaxDepth: v.TOKEN_EXCHANGE_MAX_DEPTH,
    txnTokenTtl: v.TXN_TOKEN_TTL,
    txnTrustDomain: v.TXN_TOKEN_TRUST_DOMAIN ?? issuer,
    keyRotationInterval: v.KEY_ROTATION_INTERVAL,
    keyPrepublish: v.KEY_PREPUBLISH,
    jwksMaxAge: v.JWKS_MAX_AGE,
    keySyncInterval: v.KEY_SYNC_INTERVAL,
    trustedProxies: Object.freeze(trustedProxies),
    rateLimits: Object.freeze({
      tokenPerClient: v.RATE_LIMIT_TOKEN_PER_CLIENT,
      tokenPerAddress: v.RATE_LIMIT_TOKEN_PER_ADDRESS,
      authFailures: v.RATE_LIMIT_AUTH_FAILURES,
      admin: v.RATE_LIMIT_ADMIN,
    }),
    bootstrapAdmin: Object.freeze({ clientId: v.BOOTSTRAP_ADMIN_CLIENT_ID, secret: v.BOOTSTRAP_ADMIN_CLIENT_SECRET }),
    tls: loadTls(v.TLS_CERT_FILE, v.TLS_KEY_FILE, cwd),
    clientCaCertificates: Object.freeze(v.TLS_CLIENT_CA_FILE ? loadCaFile(v.TLS_CLIENT_CA_FILE, cwd) : []),
    trustedClientCertHeader: v.TRUSTED_CLIENT_CERT_HEADER,
    trustedClientCertProxies: Object.freeze(trustedClientCertProxies),
    trustedClientCertElements: v.TRUSTED_CLIENT_CERT_ELEMENTS === 'last' ? 'last' : 'one',
    trustProxyVerifiedIdentity: v.TRUST_PROXY_VERIFIED_IDENTITY,
    allowInsecureJwksUri: v.ALLOW_INSECURE_JWKS_URI,
    redisUrl: v.REDIS_URL,
    redisKeyPrefix: v.REDIS_KEY_PREFIX,
    tlsHandshakeTimeout: v.TLS_HANDSHAKE_TIMEOUT,
    maxConnections: v.MAX_CONNECTIONS,
    logLevel: v.LOG_LEVEL,
    shutdownTimeout: v.SHUTDOWN_TIMEOUT,
    metricsPort: v.METRICS_PORT,
    webConcurrency: v.WEB_CONCURRENCY ?? availableCpus(),
    timeouts: Object.freeze({
      databaseConnect: v.DATABASE_CONNECT_TIMEOUT,
      databaseStatement: v.DATABASE_STATEMENT_TIMEOUT,
      databaseIdle: v.DATABASE_IDLE_TIMEOUT,
      redisConnect: v.REDIS_CONNECT_TIMEOUT,
      redisCommand: v.REDIS_COMMAND_TIMEOUT,
    }),
    sqliteSynchronous: v.SQLITE_SYNCHRONOUS,
    metricsTopClients: v.METRICS_TOP_CLIENTS,
    tokenQuota: Object.freeze({ perHour: v.TOKEN_QUOTA_PER_HOUR, perDay: v.TOKEN_QUOTA_PER_DAY }),
    audit: Object.freeze({ retention: v.AUDIT_RETENTION, checkpointInterval: v.AUDIT_CHECKPOINT_INTERVAL, denialWindow: v.AUDIT_DENIAL_WINDOW }),
  });
}

/** The configuration, or the one line naming the bad variable on stderr and exit code 1 (the process entry points). */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`identity-backend: configuration error: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}
