import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load-config.ts';

const CWD = '/srv/identity';

/** Asserts that loading `env` fails with a one-line ConfigError naming `variable` first. */
function expectConfigError(env: Record<string, string>, variable: string, detail?: RegExp): void {
  assert.throws(() => loadConfig(env, CWD), (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.ok(error.message.startsWith(`${variable}: `), `"${error.message}" does not start with "${variable}: "`);
    assert.doesNotMatch(error.message, /\n/, 'the error is one line');
    if (detail) assert.match(error.message, detail);
    return true;
  });
}

describe('loadConfig defaults', () => {
  it('gives the documented defaults for an empty environment', () => {
    const config = loadConfig({}, CWD);
    assert.equal(config.production, false);
    assert.equal(config.port, 8080);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.issuer, 'http://localhost:8080');
    assert.equal(config.tokenEndpoint, 'http://localhost:8080/token');
    assert.equal(config.jwksUri, 'http://localhost:8080/.well-known/jwks.json');
    assert.equal(config.adminAudience, 'http://localhost:8080/admin');
    assert.deepEqual(config.database, { provider: 'sqlite', url: `file:${CWD}/data/identity.db`, file: `${CWD}/data/identity.db` });
    assert.equal(config.keysDir, `${CWD}/keys`);
    assert.equal(config.keyEncryptionKey, undefined);
    assert.equal(config.signingAlg, 'RS256');
    assert.equal(config.accessTokenTtl, 900);
    assert.equal(config.maxAccessTokenTtl, 3600);
    assert.equal(config.keyRotationInterval, 30 * 86400);
    assert.equal(config.keyPrepublish, 86400);
    assert.equal(config.jwksMaxAge, 900);
    assert.deepEqual(config.trustedProxies, []);
    assert.deepEqual(config.trustedClientCertProxies, []);
    assert.equal(config.trustedClientCertElements, 'one');
    assert.equal(config.tlsHandshakeTimeout, 10);
    assert.equal(config.maxConnections, 10000);
    assert.deepEqual(config.rateLimits, { tokenPerClient: 6000, tokenPerAddress: 60000, authFailures: 10, admin: 600 });
    assert.deepEqual(config.bootstrapAdmin, { clientId: 'admin', secret: undefined });
    assert.equal(config.logLevel, 'info');
    assert.equal(config.shutdownTimeout, 10);
    assert.equal(config.redisKeyPrefix, 'idb:');
  });

  it('treats an empty variable as unset', () => {
    const config = loadConfig({ PORT: '', SIGNING_ALG: '', ACCESS_TOKEN_TTL: '' }, CWD);
    assert.equal(config.port, 8080);
    assert.equal(config.signingAlg, 'RS256');
    assert.equal(config.accessTokenTtl, 900);
  });

  it('derives the default issuer and its URLs from PORT, and takes ISSUER as given', () => {
    assert.equal(loadConfig({ PORT: '9000' }, CWD).issuer, 'http://localhost:9000');
    const config = loadConfig({ PORT: '9000', ISSUER: 'https://auth.example.com/tenant' }, CWD);
    assert.equal(config.issuer, 'https://auth.example.com/tenant');
    assert.equal(config.tokenEndpoint, 'https://auth.example.com/tenant/token');
    assert.equal(config.jwksUri, 'https://auth.example.com/tenant/.well-known/jwks.json');
    assert.equal(config.adminAudience, 'https://auth.example.com/tenant/admin');
  });

  it('resolves a relative SQLite file and KEYS_DIR against the working directory, and recognises PostgreSQL', () => {
    const sqlite = loadConfig({ DATABASE_URL: 'file:./var/db.sqlite', KEYS_DIR: 'secrets' }, CWD);
    assert.deepEqual(sqlite.database, { provider: 'sqlite', url: `file:${CWD}/var/db.sqlite`, file: `${CWD}/var/db.sqlite` });
    assert.equal(sqlite.keysDir, `${CWD}/secrets`);
    const url = 'postgresql://identity:pw@db.internal:5432/identity';
    assert.deepEqual(loadConfig({ DATABASE_URL: url }, CWD).database, { provider: 'postgresql', url });
    assert.equal(loadConfig({ DATABASE_URL: 'postgres://db/identity' }, CWD).database.provider, 'postgresql');
  });

  it('accepts every documented signing algorithm and 0 to switch a rate limit off', () => {
    for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA'] as const) assert.equal(loadConfig({ SIGNING_ALG: alg }, CWD).signingAlg, alg);
    const config = loadConfig({ RATE_LIMIT_TOKEN_PER_CLIENT: '0', RATE_LIMIT_TOKEN_PER_ADDRESS: '0', RATE_LIMIT_AUTH_FAILURES: '0', RATE_LIMIT_ADMIN: '0' }, CWD);
    assert.deepEqual(config.rateLimits, { tokenPerClient: 0, tokenPerAddress: 0, authFailures: 0, admin: 0 });
  });

  it('returns a frozen object, nested parts included', () => {
    const config = loadConfig({ TRUSTED_PROXIES: '10.0.0.5' }, CWD);
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.rateLimits));
    assert.ok(Object.isFrozen(config.bootstrapAdmin));
    assert.ok(Object.isFrozen(config.trustedProxies));
    // ES modules are strict: writing to a frozen object throws.
    assert.throws(() => { (config as { port: number }).port = 1; }, TypeError);
    assert.throws(() => { (config.rateLimits as { authFailures: number }).authFailures = 0; }, TypeError);
    assert.throws(() => { (config.trustedProxies as string[]).push('0.0.0.0/0'); }, TypeError);
  });
});

describe('loadConfig durations', () => {
  it('reads seconds, minutes, hours and days', () => {
    const config = loadConfig({
      ACCESS_TOKEN_TTL: '15m',
      MAX_ACCESS_TOKEN_TTL: '1h',
      KEY_ROTATION_INTERVAL: '30d',
      KEY_PREPUBLISH: '2d',
      JWKS_MAX_AGE: '900',
      SHUTDOWN_TIMEOUT: '30s',
    }, CWD);
    assert.equal(config.accessTokenTtl, 900);
    assert.equal(config.maxAccessTokenTtl, 3600);
    assert.equal(config.keyRotationInterval, 2_592_000);
    assert.equal(config.keyPrepublish, 172_800);
    assert.equal(config.jwksMaxAge, 900);
    assert.equal(config.shutdownTimeout, 30);
  });

  for (const bad of ['15 minutes', '1.5h', '-5', '1w', 'm', '1e3', '10000000000']) {
    it(`refuses the duration "${bad}" naming the variable`, () => {
      expectConfigError({ ACCESS_TOKEN_TTL: bad }, 'ACCESS_TOKEN_TTL', /expected a duration/);
    });
  }

  it('refuses a zero lifetime and a rotation interval under a minute', () => {
    expectConfigError({ ACCESS_TOKEN_TTL: '0' }, 'ACCESS_TOKEN_TTL');
    expectConfigError({ KEY_ROTATION_INTERVAL: '59s' }, 'KEY_ROTATION_INTERVAL');
  });
});

describe('loadConfig bad values', () => {
  const cases: Array<[string, string, RegExp?]> = [
    ['PORT', 'abc', /whole number/],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['HOST', 'localhost', /IP address/],
    ['NODE_ENV', 'staging', /expected one of development, production, test, got "staging"/],
    ['ISSUER', 'auth.example.com'],
    ['ISSUER', 'ftp://auth.example.com'],
    ['ISSUER', 'https://auth.example.com/'],
    ['ISSUER', 'https://auth.example.com?x=1'],
    ['ISSUER', 'https://auth.example.com#top'],
    ['DATABASE_URL', 'mysql://x', /postgresql/],
    ['DATABASE_URL', 'file:'],
    ['DATABASE_URL', 'file:./db.sqlite?mode=ro'],
    ['DATABASE_URL', 'identity.db'],
    ['SIGNING_ALG', 'HS256', /got "HS256"/],
    ['SIGNING_ALG', 'none'],
    ['SIGNING_ALG', 'rs256'],
    ['KEY_ENCRYPTION_KEY', 'short', /64 hex digits or 43 base64url/],
    ['KEY_ENCRYPTION_KEY', 'a'.repeat(63)],
    ['KEY_ENCRYPTION_KEY', 'g'.repeat(64)],
    ['KEY_ENCRYPTION_KEY', `${'A'.repeat(43)}=`],
    ['KEY_ENCRYPTION_KEY', `${'A'.repeat(42)}+`],
    ['MAX_ACCESS_TOKEN_TTL', 'forever'],
    ['KEY_PREPUBLISH', '1y'],
    ['JWKS_MAX_AGE', '-900'],
    ['KEY_SYNC_INTERVAL', '0'],
    ['SHUTDOWN_TIMEOUT', 'soon'],
    ['RATE_LIMIT_TOKEN_PER_CLIENT', '1e3', /whole number/],
    ['RATE_LIMIT_TOKEN_PER_ADDRESS', '-1'],
    ['RATE_LIMIT_AUTH_FAILURES', 'ten'],
    ['RATE_LIMIT_ADMIN', '1.5'],
    ['BOOTSTRAP_ADMIN_CLIENT_ID', 'has space'],
    ['BOOTSTRAP_ADMIN_CLIENT_ID', '-leading-dash'],
    ['BOOTSTRAP_ADMIN_CLIENT_SECRET', 'short', /at least 32 characters/],
    ['BOOTSTRAP_ADMIN_CLIENT_SECRET', `${'x'.repeat(20)} ${'y'.repeat(20)}`, /printable ASCII/],
    ['BOOTSTRAP_ADMIN_CLIENT_SECRET', 'x'.repeat(513)],
    ['LOG_LEVEL', 'verbose'],
    ['TRUSTED_PROXIES', 'proxy.internal'],
    ['TRUSTED_CLIENT_CERT_ELEMENTS', '2', /expected one of 1, last/],
    ['TLS_HANDSHAKE_TIMEOUT', '0'],
    ['TLS_HANDSHAKE_TIMEOUT', 'soon'],
    ['MAX_CONNECTIONS', '-1', /whole number/],
    ['REDIS_KEY_PREFIX', 'has space', /1-64 letters/],
    ['REDIS_KEY_PREFIX', ':leading'],
    ['REDIS_KEY_PREFIX', 'x'.repeat(65)],
  ];
  for (const [variable, value, detail] of cases) {
    const shown = value.length > 48 ? `${value.slice(0, 20)}… (${value.length} characters)` : value;
    it(`${variable === 'BOOTSTRAP_ADMIN_CLIENT_SECRET' ? 'AD-08 ' : ''}refuses ${variable}=${shown} with an error that starts with the variable`, () => {
      expectConfigError({ [variable]: value }, variable, detail);
    });
  }

  it('AD-08 does not echo a refused bootstrap secret', () => {
    const secret = 'tooShortSecret';
    assert.throws(() => loadConfig({ BOOTSTRAP_ADMIN_CLIENT_SECRET: secret }, CWD), (error: Error) => !error.message.includes(secret));
  });

  it('names only the first bad variable when several are bad', () => {
    assert.throws(() => loadConfig({ PORT: 'abc', SIGNING_ALG: 'HS256' }, CWD), (error: Error) => {
      assert.ok(error.message.startsWith('PORT: '), error.message);
      assert.doesNotMatch(error.message, /SIGNING_ALG/);
      return true;
    });
  });

  it('ignores variables it does not read', () => {
    assert.equal(loadConfig({ HOME: '/root', PATH: '/bin', UNRELATED: '%%%' }, CWD).port, 8080);
  });
});

describe('loadConfig cross-field rules', () => {
  it('refuses ACCESS_TOKEN_TTL above MAX_ACCESS_TOKEN_TTL, and accepts it equal', () => {
    expectConfigError({ ACCESS_TOKEN_TTL: '5000', MAX_ACCESS_TOKEN_TTL: '3600' }, 'ACCESS_TOKEN_TTL', /MAX_ACCESS_TOKEN_TTL \(3600s\)/);
    expectConfigError({ ACCESS_TOKEN_TTL: '2h' }, 'ACCESS_TOKEN_TTL');
    assert.equal(loadConfig({ ACCESS_TOKEN_TTL: '1h', MAX_ACCESS_TOKEN_TTL: '3600' }, CWD).accessTokenTtl, 3600);
  });

  it('refuses KEY_PREPUBLISH not shorter than KEY_ROTATION_INTERVAL', () => {
    expectConfigError({ KEY_PREPUBLISH: '40d' }, 'KEY_PREPUBLISH', /KEY_ROTATION_INTERVAL/);
    expectConfigError({ KEY_PREPUBLISH: '30d' }, 'KEY_PREPUBLISH');
    expectConfigError({ KEY_ROTATION_INTERVAL: '1d' }, 'KEY_PREPUBLISH');
    assert.equal(loadConfig({ KEY_PREPUBLISH: '29d' }, CWD).keyPrepublish, 29 * 86400);
  });

  it('refuses JWKS_MAX_AGE not shorter than KEY_PREPUBLISH', () => {
    expectConfigError({ JWKS_MAX_AGE: '1d' }, 'JWKS_MAX_AGE', /KEY_PREPUBLISH/);
    expectConfigError({ KEY_PREPUBLISH: '10m' }, 'JWKS_MAX_AGE');
    assert.equal(loadConfig({ KEY_PREPUBLISH: '10m', JWKS_MAX_AGE: '599', KEY_SYNC_INTERVAL: '5' }, CWD).jwksMaxAge, 599);
  });

  it('refuses KEY_SYNC_INTERVAL above half of KEY_PREPUBLISH', () => {
    expectConfigError({ KEY_SYNC_INTERVAL: '43201' }, 'KEY_SYNC_INTERVAL', /KEY_PREPUBLISH/);
    assert.equal(loadConfig({ KEY_SYNC_INTERVAL: '12h' }, CWD).keySyncInterval, 43200);
  });

  it('requires KEY_ENCRYPTION_KEY when NODE_ENV=production', () => {
    expectConfigError({ NODE_ENV: 'production' }, 'KEY_ENCRYPTION_KEY', /production/);
    const config = loadConfig({ NODE_ENV: 'production', KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url') }, CWD);
    assert.equal(config.production, true);
    assert.equal(config.keyEncryptionKey?.length, 32);
  });
});

describe('loadConfig KEY_ENCRYPTION_KEY', () => {
  it('reads 64 hex digits as 32 bytes, in either case', () => {
    const key = randomBytes(32);
    assert.deepEqual(loadConfig({ KEY_ENCRYPTION_KEY: key.toString('hex') }, CWD).keyEncryptionKey, key);
    assert.deepEqual(loadConfig({ KEY_ENCRYPTION_KEY: key.toString('hex').toUpperCase() }, CWD).keyEncryptionKey, key);
  });

  it('reads 43 base64url characters as 32 bytes', () => {
    // Bytes whose base64 holds "-" and "_", so a plain base64 decoder would get them wrong.
    const key = Buffer.alloc(32, 0xfb);
    const text = key.toString('base64url');
    assert.equal(text.length, 43);
    assert.match(text, /[-_]/);
    assert.deepEqual(loadConfig({ KEY_ENCRYPTION_KEY: text }, CWD).keyEncryptionKey, key);
  });
});

describe('loadConfig KEY_ENCRYPTION_KEYS_PREVIOUS', () => {
  const current = randomBytes(32);
  const older = randomBytes(32);
  const oldest = randomBytes(32);

  it('reads comma-separated earlier keys in either encoding, in order; none when unset', () => {
    const config = loadConfig({ KEY_ENCRYPTION_KEY: current.toString('hex'), KEY_ENCRYPTION_KEYS_PREVIOUS: ` ${older.toString('base64url')} ,${oldest.toString('hex')}` }, CWD);
    assert.deepEqual(config.previousKeyEncryptionKeys, [older, oldest]);
    assert.deepEqual(loadConfig({ KEY_ENCRYPTION_KEY: current.toString('hex') }, CWD).previousKeyEncryptionKeys, []);
  });

  it('refuses, in one line naming it, a malformed key, the current key, a key listed twice, or no KEY_ENCRYPTION_KEY', () => {
    const KEY_ENCRYPTION_KEY = current.toString('base64url');
    expectConfigError({ KEY_ENCRYPTION_KEY, KEY_ENCRYPTION_KEYS_PREVIOUS: 'not-a-key' }, 'KEY_ENCRYPTION_KEYS_PREVIOUS', /comma-separated keys/);
    expectConfigError({ KEY_ENCRYPTION_KEY, KEY_ENCRYPTION_KEYS_PREVIOUS: `${older.toString('hex')},` }, 'KEY_ENCRYPTION_KEYS_PREVIOUS', /comma-separated keys/);
    expectConfigError({ KEY_ENCRYPTION_KEY, KEY_ENCRYPTION_KEYS_PREVIOUS: current.toString('hex') }, 'KEY_ENCRYPTION_KEYS_PREVIOUS', /KEY_ENCRYPTION_KEY itself/);
    expectConfigError({ KEY_ENCRYPTION_KEY, KEY_ENCRYPTION_KEYS_PREVIOUS: `${older.toString('hex')},${older.toString('base64url')}` }, 'KEY_ENCRYPTION_KEYS_PREVIOUS', /listed twice/);
    expectConfigError({ KEY_ENCRYPTION_KEYS_PREVIOUS: older.toString('hex') }, 'KEY_ENCRYPTION_KEYS_PREVIOUS', /requires KEY_ENCRYPTION_KEY/);
  });
});

describe('loadConfig TRUSTED_PROXIES', () => {
  it('reads a comma-separated list of addresses and CIDR ranges, trimming blanks', () => {
    const config = loadConfig({ TRUSTED_PROXIES: ' 10.0.0.5, 10.1.0.0/16 ,::1, fd00::/8,' }, CWD);
    assert.deepEqual(config.trustedProxies, ['10.0.0.5', '10.1.0.0/16', '::1', 'fd00::/8']);
  });

  it('gives an empty list when unset or blank', () => {
    assert.deepEqual(loadConfig({}, CWD).trustedProxies, []);
    assert.deepEqual(loadConfig({ TRUSTED_PROXIES: ' , ' }, CWD).trustedProxies, []);
  });

  for (const bad of ['proxy.internal', '10.0.0.300', '10.0.0.0/33', '::1/129', '10.0.0.0/x', '10.0.0.0/', '/8', '10.0.0.0/8/9', '10.0.0.5, 10.0.0.6/99']) {
    it(`refuses the entry "${bad}"`, () => {
      expectConfigError({ TRUSTED_PROXIES: bad }, 'TRUSTED_PROXIES');
    });
  }
});

describe('ISSUER in production on a TLS listener', () => {
  const production = { NODE_ENV: 'production', KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url') };
  // The ISSUER check comes before the files are read, so the paths need not exist for the refusals.
  const tls = { TLS_CERT_FILE: 'tls/cert.pem', TLS_KEY_FILE: 'tls/key.pem' };

  for (const issuer of [undefined, 'http://identity.example.com', 'https://localhost:8443', 'https://127.0.0.1:8443', 'https://[::1]:8443', 'https://id.localhost']) {
    it(`refuses ${issuer ?? 'the default issuer'} with one line naming ISSUER`, () => {
      expectConfigError({ ...production, ...tls, ...(issuer && { ISSUER: issuer }) }, 'ISSUER', /public https:\/\/ URL/);
    });
  }

  it('keeps http:// and localhost issuers for development on TLS, and for production without a TLS listener', () => {
    // Both get as far as reading the (missing) certificate, past the ISSUER check.
    expectConfigError({ ...tls, ISSUER: 'http://localhost:8443' }, 'TLS_CERT_FILE');
    assert.equal(loadConfig({ ...production, ISSUER: 'http://identity.shop.svc.cluster.local' }, CWD).issuer, 'http://identity.shop.svc.cluster.local');
  });

  it('takes an https issuer with a public name in production on TLS', () => {
    expectConfigError({ ...production, ...tls, ISSUER: 'https://identity.example.com' }, 'TLS_CERT_FILE');
  });

  it('reads CONFIRM_ISSUER_CHANGE as the previous issuer, refusing anything but an http(s) URL', () => {
    assert.equal(loadConfig({ CONFIRM_ISSUER_CHANGE: 'https://old.example.com' }, CWD).confirmedIssuerChange, 'https://old.example.com');
    expectConfigError({ CONFIRM_ISSUER_CHANGE: 'old.example.com' }, 'CONFIRM_ISSUER_CHANGE');
  });
});

describe('loadConfig forwarded client certificates', () => {
  const xfcc = { TRUSTED_CLIENT_CERT_HEADER: 'x-forwarded-client-cert' };

  it('MT-07 requires TRUSTED_CLIENT_CERT_PROXIES with TRUSTED_CLIENT_CERT_HEADER: TRUSTED_PROXIES alone no longer counts', () => {
    expectConfigError(xfcc, 'TRUSTED_CLIENT_CERT_PROXIES', /required when TRUSTED_CLIENT_CERT_HEADER is set/);
    expectConfigError({ ...xfcc, TRUSTED_PROXIES: '10.0.0.5' }, 'TRUSTED_CLIENT_CERT_PROXIES', /TRUSTED_PROXIES covers X-Forwarded-For only/);
    expectConfigError({ ...xfcc, TRUSTED_CLIENT_CERT_PROXIES: ' , ' }, 'TRUSTED_CLIENT_CERT_PROXIES');
  });

  it('keeps the two lists apart', () => {
    const config = loadConfig({ ...xfcc, TRUSTED_PROXIES: '10.0.0.0/8', TRUSTED_CLIENT_CERT_PROXIES: ' 10.0.0.5, fd00::/8' }, CWD);
    assert.deepEqual(config.trustedProxies, ['10.0.0.0/8']);
    assert.deepEqual(config.trustedClientCertProxies, ['10.0.0.5', 'fd00::/8']);
    assert.ok(Object.isFrozen(config.trustedClientCertProxies));
    assert.deepEqual(loadConfig({ ...xfcc, TRUSTED_CLIENT_CERT_PROXIES: '10.0.0.5' }, CWD).trustedProxies, []);
  });

  for (const bad of ['proxy.internal', '10.0.0.0/33', '10.0.0.5, ::1/129']) {
    it(`refuses the TRUSTED_CLIENT_CERT_PROXIES entry "${bad}"`, () => {
      expectConfigError({ ...xfcc, TRUSTED_CLIENT_CERT_PROXIES: bad }, 'TRUSTED_CLIENT_CERT_PROXIES');
    });
  }

  it('refuses TRUSTED_CLIENT_CERT_PROXIES without TRUSTED_CLIENT_CERT_HEADER, where it would do nothing', () => {
    expectConfigError({ TRUSTED_CLIENT_CERT_PROXIES: '10.0.0.5' }, 'TRUSTED_CLIENT_CERT_PROXIES', /TRUSTED_CLIENT_CERT_HEADER/);
  });

  it('MT-08 accepts one XFCC element by default and the last of several with TRUSTED_CLIENT_CERT_ELEMENTS=last (XFCC only)', () => {
    const base = { ...xfcc, TRUSTED_CLIENT_CERT_PROXIES: '10.0.0.5' };
    assert.equal(loadConfig(base, CWD).trustedClientCertElements, 'one');
    assert.equal(loadConfig({ ...base, TRUSTED_CLIENT_CERT_ELEMENTS: '1' }, CWD).trustedClientCertElements, 'one');
    assert.equal(loadConfig({ ...base, TRUSTED_CLIENT_CERT_ELEMENTS: 'last' }, CWD).trustedClientCertElements, 'last');
    expectConfigError({ ...base, TRUSTED_CLIENT_CERT_HEADER: 'client-cert', TRUSTED_CLIENT_CERT_ELEMENTS: 'last' }, 'TRUSTED_CLIENT_CERT_ELEMENTS', /x-forwarded-client-cert/);
    expectConfigError({ TRUSTED_CLIENT_CERT_ELEMENTS: 'last' }, 'TRUSTED_CLIENT_CERT_ELEMENTS');
  });
});

describe('loadConfig listener limits', () => {
  it('reads TLS_HANDSHAKE_TIMEOUT as a duration and MAX_CONNECTIONS as a count (0 = no cap)', () => {
    const config = loadConfig({ TLS_HANDSHAKE_TIMEOUT: '30s', MAX_CONNECTIONS: '0' }, CWD);
    assert.equal(config.tlsHandshakeTimeout, 30);
    assert.equal(config.maxConnections, 0);
  });
});

describe('loadConfig dependency bounds', () => {
  it('gives the documented defaults (docs/reliability.md) and reads "500ms", "2s" and plain seconds', () => {
    const config = loadConfig({}, CWD);
    assert.deepEqual(config.timeouts, { databaseConnect: 3000, databaseStatement: 5000, databaseIdle: 30000, redisConnect: 2000, redisCommand: 500 });
    assert.equal(config.sqliteSynchronous, 'full');
    const set = loadConfig({
      DATABASE_CONNECT_TIMEOUT: '750ms', DATABASE_STATEMENT_TIMEOUT: '2s', DATABASE_IDLE_TIMEOUT: '60', REDIS_CONNECT_TIMEOUT: '1m', REDIS_COMMAND_TIMEOUT: '50ms', SQLITE_SYNCHRONOUS: 'normal',
    }, CWD);
    assert.deepEqual(set.timeouts, { databaseConnect: 750, databaseStatement: 2000, databaseIdle: 60000, redisConnect: 60000, redisCommand: 50 });
    assert.equal(set.sqliteSynchronous, 'normal');
  });

  it('names the variable of a bound that is not a timeout, or too short to work', () => {
    expectConfigError({ DATABASE_STATEMENT_TIMEOUT: 'soon' }, 'DATABASE_STATEMENT_TIMEOUT', /expected a timeout like "500ms", "2s" or "2", got "soon"/);
    expectConfigError({ DATABASE_CONNECT_TIMEOUT: '10ms' }, 'DATABASE_CONNECT_TIMEOUT');
    expectConfigError({ REDIS_COMMAND_TIMEOUT: '1.5s' }, 'REDIS_COMMAND_TIMEOUT');
    expectConfigError({ SQLITE_SYNCHRONOUS: 'off' }, 'SQLITE_SYNCHRONOUS', /expected one of full, normal, got "off"/);
  });
});

describe('token exchange, Txn-Token and federated assertion settings', () => {
  it('gives the documented defaults: 5 actors, 5-minute Txn-Tokens for the ISSUER trust domain, 1-hour federated assertions', () => {
    const config = loadConfig({ ISSUER: 'https://id.example.com' }, CWD);
    assert.equal(config.tokenExchangeMaxDepth, 5);
    assert.equal(config.txnTokenTtl, 300);
    assert.equal(config.txnTrustDomain, 'https://id.example.com');
    assert.equal(config.maxFederatedAssertionLifetime, 3600);
    const set = loadConfig({ TOKEN_EXCHANGE_MAX_DEPTH: '2', TXN_TOKEN_TTL: '2m', TXN_TOKEN_TRUST_DOMAIN: 'trust.example', FEDERATED_ASSERTION_MAX_LIFETIME: '10m' }, CWD);
    assert.deepEqual([set.tokenExchangeMaxDepth, set.txnTokenTtl, set.txnTrustDomain, set.maxFederatedAssertionLifetime], [2, 120, 'trust.example', 600]);
  });

  it('names the variable of a bad value', () => {
    expectConfigError({ TOKEN_EXCHANGE_MAX_DEPTH: '0' }, 'TOKEN_EXCHANGE_MAX_DEPTH');
    expectConfigError({ TOKEN_EXCHANGE_MAX_DEPTH: '33' }, 'TOKEN_EXCHANGE_MAX_DEPTH');
    expectConfigError({ TOKEN_EXCHANGE_MAX_DEPTH: 'deep' }, 'TOKEN_EXCHANGE_MAX_DEPTH');
    expectConfigError({ TXN_TOKEN_TTL: '2h' }, 'TXN_TOKEN_TTL');
    expectConfigError({ TXN_TOKEN_TTL: 'soon' }, 'TXN_TOKEN_TTL');
    expectConfigError({ TXN_TOKEN_TRUST_DOMAIN: 'two words' }, 'TXN_TOKEN_TRUST_DOMAIN');
    expectConfigError({ ISSUER: 'https://id.example.com', TXN_TOKEN_TRUST_DOMAIN: 'https://id.example.com/admin' }, 'TXN_TOKEN_TRUST_DOMAIN', /admin audience/);
    expectConfigError({ FEDERATED_ASSERTION_MAX_LIFETIME: '30' }, 'FEDERATED_ASSERTION_MAX_LIFETIME');
    expectConfigError({ FEDERATED_ASSERTION_MAX_LIFETIME: '2d' }, 'FEDERATED_ASSERTION_MAX_LIFETIME');
  });
});
