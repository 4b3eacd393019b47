import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const VERSION = 'v1';

/** AES-256-GCM sealing of private keys at rest; the kid is bound as associated data. */
export type KeySealer = {
  seal(plaintext: string, kid: string): string;
  open(sealed: string, kid: string): string;
};

export function createKeySealer(keyEncryptionKey: Buffer): KeySealer {
  if (keyEncryptionKey.length !== 32) throw new Error('the key-encryption key must be 32 bytes');
  return {
    seal(plaintext, kid) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', keyEncryptionKey, iv).setAAD(Buffer.from(kid, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return [VERSION, iv, ciphertext, cipher.getAuthTag()].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
    },
    open(sealed, kid) {
      const [version, iv, ciphertext, tag] = sealed.split('.');
      if (version !== VERSION || !iv || !ciphertext || !tag) throw new Error(`signing key ${kid}: unrecognised sealed format`);
      const decipher = createDecipheriv('aes-256-gcm', keyEncryptionKey, Buffer.from(iv, 'base64url'))
        .setAAD(Buffer.from(kid, 'utf8'))
        .setAuthTag(Buffer.from(tag, 'base64url'));
      try {
        return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
      } catch {
        throw new Error(`signing key ${kid} cannot be decrypted: KEY_ENCRYPTION_KEY differs from the one that sealed it`);
      }
    },
  };
}

export const DEVELOPMENT_KEK_FILE = 'key-encryption-key';

/**
 * The configured key-encryption key or, outside production, one generated once into
 * KEYS_DIR with mode 0600 so a laptop needs no set-up and keys survive restarts.
 */
export function loadOrCreateKeyEncryptionKey(configured: Buffer | undefined, keysDir: string): Buffer {
  if (configured) return configured;
  const file = path.join(keysDir, DEVELOPMENT_KEK_FILE);
  if (!existsSync(file)) {
    mkdirSync(keysDir, { recursive: true, mode: 0o700 });
    try {
      writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      // Another process starting at the same moment wrote it first: use theirs.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url');
  if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64url key`);
  return key;
}
