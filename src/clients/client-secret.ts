import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { randomToken } from '../shared/ids.ts';
import type { StoredSecret } from './client.ts';

/** 32 random bytes: 256 bits, base64url (43 characters). */
export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

const HASH_PREFIX = 'hmac-sha256.v1.';

/**
 * Client secrets are stored as HMAC-SHA256 under a server-held key, not with bcrypt, scrypt or
 * argon2. Those slow hashes exist to protect low-entropy human passwords against offline guessing;
 * our secrets are 256 random bits chosen by the service, so a stolen hash cannot be brute-forced
 * however fast the hash is, and the server key adds a second secret the database alone does not
 * hold. A slow hash would instead cost ~50–100 ms of CPU on every POST /token, capping throughput
 * at a few dozen tokens per second per core (the complaint operators of Ory Hydra make about its
 * bcrypt-hashed client secrets) and handing attackers a cheap CPU-exhaustion lever.
 */
export type SecretHasher = {
  hash(secret: string): string;
  /** Constant-time: the time taken does not depend on where the inputs first differ. */
  matches(secret: string, storedHash: string): boolean;
};

export function createSecretHasher(keyEncryptionKey: Buffer): SecretHasher {
  const key = Buffer.from(hkdfSync('sha256', keyEncryptionKey, Buffer.alloc(0), 'identity-backend client-secret hash v1', 32));
  const mac = (secret: string) => createHmac('sha256', key).update(secret, 'utf8').digest();
  return {
    hash: (secret) => HASH_PREFIX + mac(secret).toString('base64url'),
    matches(secret, storedHash) {
      const presented = mac(secret);
      const stored = storedHash.startsWith(HASH_PREFIX) ? Buffer.from(storedHash.slice(HASH_PREFIX.length), 'base64url') : Buffer.alloc(32);
      // Both are 32-byte MACs, so the length check never short-circuits on secret content.
      return stored.length === presented.length && timingSafeEqual(presented, stored);
    },
  };
}

/** A secret (generated unless given) and the record of it that is stored: its keyed hash, never itself. */
export function issueSecret(hasher: SecretHasher, expiresAt: Date | null = null, secret = generateClientSecret()): { secret: string; stored: StoredSecret } {
  return { secret, stored: { id: randomToken(16), hash: hasher.hash(secret), expiresAt } };
}
