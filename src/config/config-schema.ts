import { isIP } from 'node:net';
import { z } from 'zod';
import { parseDurationMillis, parseDurationSeconds } from '../shared/duration.ts';

export const SIGNING_ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

const duration = z.string().transform((text, ctx) => {
  const seconds = parseDurationSeconds(text);
  if (seconds === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a duration like "900", "15m", "1h" or "1d", got "${text}"` });
    return z.NEVER;
  }
  return seconds;
});

/** A timeout: "250ms", "2s" or plain seconds; in milliseconds. */
const millis = z.string().transform((text, ctx) => {
  const ms = parseDurationMillis(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a timeout like "500ms", "2s" or "2", got "${text}"` });
    return z.NEVER;
  }
  return ms;
});

const count = z.string().regex(/^\d{1,9}$/, 'expected a whole number').transform(Number);
/**
 * Every environment variable the service reads: name, default and meaning. load-config.ts is the
 * only reader of process.env; a bad value stops start-up with one line naming the variable.
 */
export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development')
    .describe('production requires KEY_ENCRYPTION_KEY instead of a generated development key'),
  PORT: count.pipe(z.number().max(65535)).default(8080).describe('listening port; 0 picks a free one (tests)'),
  HOST: z.string().refine((v) => isIP(v) !== 0, 'expected an IP address').default('0.0.0.0').describe('listening address'),
  ISSUER: z.url({ protocol: /^https?$/ }).refine((v) => !v.endsWith('/') && !v.includes('?') && !v.includes('#'),
    'expected an http(s) URL without a trailing slash, query or fragment').optional()
    .describe('the iss of every token; default http://localhost:$PORT'),
  CONFIRM_ISSUER_CHANGE: z.url({ protocol: /^https?$/ }).optional()
    .describe('production: the issuer the database was set up with, to confirm moving it (and the admin audience) to ISSUER'),
  DATABASE_URL: z.string().optional().describe('file:./data/identity.db (default, embedded SQLite) or postgresql://…'),
  KEYS_DIR: z.string().min(1).default('./keys').describe('development key-encryption key and TLS material'),
  KEY_ENCRYPTION_KEY: z.string().regex(/^[A-Za-z0-9_-]{43}$|^[0-9a-fA-F]{64}$/,
    'expected 32 bytes as 64 hex digits or 43 base64url characters').optional()
    .describe('AES-256-GCM key protecting signing keys at rest and keying client-secret hashes'),
  KEY_ENCRYPTION_KEYS_PREVIOUS: z.string().regex(/^\s*(?:[A-Za-z0-9_-]{43}|[0-9a-fA-F]{64})(?:\s*,\s*(?:[A-Za-z0-9_-]{43}|[0-9a-fA-F]{64}))*\s*$/,
    'expected comma-separated keys, each 32 bytes as 64 hex digits or 43 base64url characters').optional()
    .describe('earlier key-encryption keys, still opening signing keys and verifying secret hashes they made; see docs/operations.md'),
  SIGNING_ALG: z.enum(SIGNING_ALGS).default('RS256').describe('algorithm of newly created signing keys'),
  ACCESS_TOKEN_TTL: duration.pipe(z.number().min(1)).default(900).describe('default access-token lifetime'),
  MAX_ACCESS_TOKEN_TTL: duration.pipe(z.number().min(1)).default(3600).describe('ceiling of any per-client lifetime'),
  FEDERATED_ASSERTION_MAX_LIFETIME: duration.pipe(z.number().min(60).max(86400)).default(3600)
    .describe('federated_jwt: the longest exp - iat (and age) of a service-account token or JWT-SVID when its trusted issuer sets no max_token_age'),
  TOKEN_EXCHANGE_MAX_DEPTH: count.pipe(z.number().min(1).max(32)).default(5)
    .describe('token exchange: most actors an act chain may name (RFC 8693 §4.1), the new one included'),
  TXN_TOKEN_TTL: duration.pipe(z.number().min(1).max(3600)).default(300).describe('Txn-Token lifetime (never beyond the subject token)'),
  TXN_TOKEN_TRUST_DOMAIN: z.string().regex(/^[\x21-\x7e]{1,255}$/, 'expected 1-255 printable ASCII characters without spaces').optional()
    .describe('the trust domain Txn-Tokens are valid in (their aud); default: ISSUER'),
  KEY_ROTATION_INTERVAL: duration.pipe(z.number().min(60)).default(30 * 86400).describe('automatic key rotation period'),
  KEY_PREPUBLISH: duration.pipe(z.number().min(1)).default(86400).describe('how long a next key is published before it signs'),
  JWKS_MAX_AGE: duration.pipe(z.number().min(1)).default(900).describe('JWKS Cache-Control max-age; below KEY_PREPUBLISH'),
  KEY_SYNC_INTERVAL: duration.pipe(z.number().min(1)).default(5)
    .describe('how often each instance reloads the key set and checks the rotation schedule; bounds how long a key change takes to reach every instance'),
  TRUSTED_PROXIES: z.string().optional()
    .describe('comma-separated proxy addresses or CIDRs whose X-Forwarded-For is believed'),
  RATE_LIMIT_TOKEN_PER_CLIENT: count.default(6000).describe('token requests per client id per minute; 0 = off'),
  RATE_LIMIT_TOKEN_PER_ADDRESS: count.default(60000).describe('token requests per source address per minute; 0 = off'),
  RATE_LIMIT_AUTH_FAILURES: count.default(10).describe('failed authentications per (client id, address) per minute; 0 = off'),
  RATE_LIMIT_ADMIN: count.default(600).describe('admin API requests per source address per minute; 0 = off'),
  BOOTSTRAP_ADMIN_CLIENT_ID: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:@~-]{0,127}$/, 'expected a client id (letters, digits, . _ : @ ~ -)')
    .default('admin').describe('admin client created on first start'),
  BOOTSTRAP_ADMIN_CLIENT_SECRET: z.string().min(32, 'expected at least 32 characters').max(512)
    .regex(/^[\x21-\x7e]+$/, 'expected printable ASCII without spaces').optional()
    .describe('its secret; generated and printed once when unset'),
  TLS_CERT_FILE: z.string().min(1).optional().describe('PEM certificate (chain) of the HTTPS listener; with TLS_KEY_FILE, PORT serves HTTPS'),
  TLS_KEY_FILE: z.string().min(1).optional().describe('PEM private key of the HTTPS listener'),
  TLS_CLIENT_CA_FILE: z.string().min(1).optional().describe('PEM trust anchors for client certificates (tls_client_auth)'),
  TRUSTED_CLIENT_CERT_HEADER: z.enum(['x-forwarded-client-cert', 'client-cert']).optional()
    .describe('header in which a proxy listed in TRUSTED_CLIENT_CERT_PROXIES forwards the client certificate (Envoy XFCC or RFC 9440)'),
  TRUSTED_CLIENT_CERT_PROXIES: z.string().optional()
    .describe('comma-separated proxy addresses or CIDRs believed in TRUSTED_CLIENT_CERT_HEADER; required with it, separate from TRUSTED_PROXIES'),
  TRUSTED_CLIENT_CERT_ELEMENTS: z.enum(['1', 'last']).default('1')
    .describe('XFCC elements accepted: exactly one (Envoy SANITIZE_SET), or the last of several (APPEND_FORWARD)'),
  TRUST_PROXY_VERIFIED_IDENTITY: z.enum(['true', 'false']).transform((v) => v === 'true').default(false)
    .describe('believe an XFCC element without Cert (Istio default: Hash, Subject, URI, DNS)'),
  ALLOW_INSECURE_JWKS_URI: z.enum(['true', 'false']).transform((v) => v === 'true').default(false)
    .describe('development only: accept http:// and private-address jwks_uri values'),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'expected redis://… or rediss://…').optional()
    .describe('shared replay cache (and rate limits) across instances'),
  REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9:._-]{0,63}$/, 'expected 1-64 letters, digits, : . _ - (starting with a letter or digit)').default('idb:')
    .describe('start of every Redis key and channel name: deployments that share one Redis need different ones, or they share counters, replay entries and change messages'),
  TLS_HANDSHAKE_TIMEOUT: duration.pipe(z.number().min(1)).default(10).describe('how long a TLS handshake may take before the connection is closed'),
  MAX_CONNECTIONS: count.default(10000).describe('open connections per listener (per process); further ones are closed at once; 0 = no cap'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SHUTDOWN_TIMEOUT: duration.default(10).describe('how long SIGTERM waits for in-flight requests'),
  METRICS_PORT: count.pipe(z.number().max(65535)).optional()
    .describe('serve /metrics on this port only (with denial reasons), not on PORT; unset: /metrics on PORT without reasons'),
  DATABASE_CONNECT_TIMEOUT: millis.pipe(z.number().min(100)).default(3000)
    .describe('PostgreSQL: how long opening a connection may take (pool, migrations, change feed, start-up check)'),
  DATABASE_STATEMENT_TIMEOUT: millis.pipe(z.number().min(100)).default(5000)
    .describe('how long one statement may run or wait for a lock (PostgreSQL statement_timeout and lock_timeout, a client-side bound 1 s later for a dead connection; SQLite: the asynchronous lock wait)'),
  DATABASE_IDLE_TIMEOUT: millis.pipe(z.number().min(1000)).default(30000)
    .describe('PostgreSQL: an idle pooled connection is closed after this long'),
  SQLITE_SYNCHRONOUS: z.enum(['full', 'normal']).default('full')
    .describe('SQLite synchronous pragma: full survives power loss, normal only a process crash'),
  REDIS_CONNECT_TIMEOUT: millis.pipe(z.number().min(100)).default(2000)
    .describe('how long connecting to Redis may take at start-up and on each reconnect'),
  REDIS_COMMAND_TIMEOUT: millis.pipe(z.number().min(50)).default(500)
    .describe('how long one Redis command may take before the in-process fallback answers'),
  WEB_CONCURRENCY: count.pipe(z.number().min(1).max(64)).optional()
    .describe('worker processes serving the port; default: the CPUs available to the process (cgroup quota included)'),
  AUDIT_RETENTION: duration.pipe(z.number().min(86400)).default(90 * 86400)
    .describe('audit events older than this are pruned (in batches, with a signed anchor at the cut); at least 1d'),
  AUDIT_CHECKPOINT_INTERVAL: duration.pipe(z.number().min(1)).default(60)
    .describe('how often the audit chain head is signed (a checkpoint); events after the last one are protected by the chain only'),
  TOKEN_QUOTA_PER_HOUR: count.default(0).describe('tokens one client may be issued per hour, counted across instances with REDIS_URL; 0 = no quota'),
  TOKEN_QUOTA_PER_DAY: count.default(0).describe('tokens one client may be issued per day, likewise; 0 = no quota'),
  METRICS_TOP_CLIENTS: count.pipe(z.number().max(1000)).default(20)
    .describe('clients (and audiences) with series of their own in the per-client token metrics; the rest are counted as other'),
  AUDIT_DENIAL_WINDOW: duration.default(60)
    .describe('identical token refusals (client, address, reason) past the tenth within this window are stored as one event with their count; 0 = store each'),
});

export type ConfigInput = z.input<typeof configSchema>;
