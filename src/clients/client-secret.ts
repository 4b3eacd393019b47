import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { asKeyRing, type KeyRing } from '../keys/key-ring.ts';
import { randomToken } from '../shared/ids.ts';
import type { StoredSecret } from './client.ts';

/** 32 random bytes: 256 bits, base64url (43 characters). */
export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** v2 names the key-encryption key the MAC key was derived from; v1 (before the key ring) does not. */
const HASH_PREFIX = 'hmac-sha256.v2.';
export const LEGACY_HASH_PREFIX = 'hmac-sha256.v1.';

/**
 * Client secrets are stored as HMAC-SHA256 under a server-held key, not with bcrypt, scrypt or
 * argon2. Those slow hashes exist to protect low-entropy human passwords against offline guessing;
 * our secrets are 256 random bits chosen by the service, so a stolen hash cannot be brute-forced
 * however fast the hash is, and the server key adds a second secret the database alone does not
 * hold. A slow hash would instead cost ~50–100 ms of CPU on every POST /token, capping throughput
 * at a few dozen tokens per second per core (the complaint operators of Ory Hydra make about its
 * bcrypt-hashed client secrets) and handing attackers a cheap CPU-exhaustion lever.
 *
 * The MAC key is derived from a key-encryption key of the ring; a hash names which one, so a hash
 * made under a previous key keeps verifying after KEY_ENCRYPTION_KEY changes, and is replaced by
 * one under the current key at the secret's next successful use (secret-rehash.ts).
 */
export type SecretHasher = {
  hash(secret: string): string;
  /** Constant-time: the time taken does not depend on where the inputs first differ. */
  matches(secret: string, storedHash: string): boolean;
  /** Whether `storedHash` needs no re-hashing: made under the ring's current key (or v1 while the ring has one key). */
  isCurrent(storedHash: string): boolean;
  /** A hash in the current shape that no secret matches: unknown clients are checked against it, so they take as long as known ones. */
  readonly decoyHash: string;
};

/** The key-encryption key id a stored hash names; 'legacy' for a v1 hash, which names none. */
export function hashKeyId(storedHash: string): string | 'legacy' | undefined {
  if (storedHash.startsWith(LEGACY_HASH_PREFIX)) return 'legacy';
  if (!storedHash.startsWith(HASH_PREFIX)) return undefined;
  const id = storedHash.slice(HASH_PREFIX.length).split('.', 1)[0];
  return id || undefined;
}

/** A v1 hash relabelled as made under `kekId`: the MAC is the same, only the label is added. */
export function labelLegacyHash(storedHash: string, kekId: string): string {
  if (!storedHash.startsWith(LEGACY_HASH_PREFIX)) throw new Error('not a v1 secret hash');
  return `${HASH_PREFIX}${kekId}.${storedHash.slice(LEGACY_HASH_PREFIX.length)}`;
}

export function createSecretHasher(keys: KeyRing | Buffer): SecretHasher {
  const ring = asKeyRing(keys);
  const macKeys = new Map(ring.all.map((k) => [k.id, Buffer.from(hkdfSync('sha256', k.key, Buffer.alloc(0), 'identity-backend client-secret hash v1', 32))]));
  const currentKey = macKeys.get(ring.current.id)!;
  const currentPrefix = `${HASH_PREFIX}${ring.current.id}.`;
  const mac = (key: Buffer, secret: string) => createHmac('sha256', key).update(secret, 'utf8').digest();
  const NONE = Buffer.alloc(32);
  // Both are 32-byte MACs, so the length check never short-circuits on secret content.
  const equal = (presented: Buffer, stored: Buffer) => stored.length === presented.length && timingSafeEqual(presented, stored);
  return {
    hash: (secret) => currentPrefix + mac(currentKey, secret).toString('base64url'),
    matches(secret, storedHash) {
      if (storedHash.startsWith(LEGACY_HASH_PREFIX)) {
        // A v1 hash names no key: every key of the ring is tried, always all of them.
        const stored = Buffer.from(storedHash.slice(LEGACY_HASH_PREFIX.length), 'base64url');
        let match = false;
        for (const key of macKeys.values()) match = equal(mac(key, secret), stored) || match;
        return match;
      }
      const parts = storedHash.startsWith(HASH_PREFIX) ? storedHash.slice(HASH_PREFIX.length).split('.') : [];
      const [kekId, encoded] = parts.length === 2 ? parts : [];
      const key = kekId === undefined ? undefined : macKeys.get(kekId);
      // A key not in the ring still costs one MAC, so a dropped key is not told apart by timing.
      const presented = mac(key ?? currentKey, secret);
      const stored = key && encoded ? Buffer.from(encoded, 'base64url') : NONE;
      return equal(presented, stored) && key !== undefined;
    },
    // With one key configured a v1 hash can only ever have been made under it: rewriting it would
    // gain nothing, and would lock the client out of instances of an older version still running
    // during an upgrade (they read v1 only). `keys rewrap` labels such hashes once the upgrade is done.
    isCurrent: (storedHash) => storedHash.startsWith(currentPrefix) || (ring.previous.length === 0 && storedHash.startsWith(LEGACY_HASH_PREFIX)),
    decoyHash: `${currentPrefix}${NONE.toString('base64url')}`,
  };
}

/** A secret (generated unless given) and the record of it that is stored: its keyed hash, never itself. */
export function issueSecret(hasher: SecretHasher, expiresAt: Date | null = null, secret = generateClientSecret()): { secret: string; stored: StoredSecret } {
  return { secret, stored: { id: randomToken(16), hash: hasher.hash(secret), expiresAt } };
}
