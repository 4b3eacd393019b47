import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { asKeyRing, createKeyRing, type KeyEncryptionKey, type KeyRing } from './key-ring.ts';

/** v2 names the key-encryption key that sealed it; v1 (before the key ring) does not. */
const VERSION = 'v2';
const LEGACY_VERSION = 'v1';

/** The stored private key cannot be opened with the configured key-encryption keys. */
export class KeyEncryptionError extends Error {}

/**
 * AES-256-GCM sealing of private keys at rest; the kid is bound as associated data. Seals under
 * the ring's current key; opens with whichever key of the ring the value names.
 */
export type KeySealer = {
  seal(plaintext: string, kid: string): string;
  open(sealed: string, kid: string): string;
  /**
   * The id of the key-encryption key that sealed `sealed`: the one it names (v2), or for a v1
   * value the ring's key that opens it; undefined when none does (a key not configured).
   */
  sealedBy(sealed: string, kid: string): string | undefined;
  /** Whether `sealed` is already sealed under the ring's current key. */
  isCurrent(sealed: string): boolean;
  readonly ring: KeyRing;
};

function decrypt(kek: KeyEncryptionKey, iv: string, ciphertext: string, tag: string, kid: string): string | undefined {
  const decipher = createDecipheriv('aes-256-gcm', kek.key, Buffer.from(iv, 'base64url'))
    .setAAD(Buffer.from(kid, 'utf8'))
    .setAuthTag(Buffer.from(tag, 'base64url'));
  try {
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

type Parsed = { kekId: string | undefined; iv: string; ciphertext: string; tag: string };

function parse(sealed: string, kid: string): Parsed {
  const parts = sealed.split('.');
  if (parts[0] === VERSION && parts.length === 5 && parts.every(Boolean)) {
    const [, kekId, iv, ciphertext, tag] = parts as [string, string, string, string, string];
    return { kekId, iv, ciphertext, tag };
  }
  if (parts[0] === LEGACY_VERSION && parts.length === 4 && parts.every(Boolean)) {
    const [, iv, ciphertext, tag] = parts as [string, string, string, string];
    return { kekId: undefined, iv, ciphertext, tag };
  }
  throw new KeyEncryptionError(`signing key ${kid}: unrecognised sealed format`);
}

export function createKeySealer(keys: KeyRing | Buffer): KeySealer {
  const ring = asKeyRing(keys);
  const currentPrefix = `${VERSION}.${ring.current.id}.`;

  /** v1 values name no key: the ring's keys are tried in turn (GCM's tag tells the right one). */
  function openLegacy(p: Parsed, kid: string): { id: string; plaintext: string } | undefined {
    for (const kek of ring.all) {
      const plaintext = decrypt(kek, p.iv, p.ciphertext, p.tag, kid);
      if (plaintext !== undefined) return { id: kek.id, plaintext };
    }
    return undefined;
  }

  return {
    ring,
    seal(plaintext, kid) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', ring.current.key, iv).setAAD(Buffer.from(kid, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return [VERSION, ring.current.id, iv, ciphertext, cipher.getAuthTag()].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
    },
    open(sealed, kid) {
      const p = parse(sealed, kid);
      if (p.kekId === undefined) {
        const opened = openLegacy(p, kid);
        if (!opened) {
          throw new KeyEncryptionError(`signing key ${kid} cannot be decrypted: KEY_ENCRYPTION_KEY differs from the one that sealed it (and no key in KEY_ENCRYPTION_KEYS_PREVIOUS opens it)`);
        }
        return opened.plaintext;
      }
      const kek = ring.byId(p.kekId);
      if (!kek) {
        throw new KeyEncryptionError(`signing key ${kid} cannot be decrypted: it was sealed by key-encryption key ${p.kekId}, which is neither KEY_ENCRYPTION_KEY (${ring.current.id}) nor in KEY_ENCRYPTION_KEYS_PREVIOUS`);
      }
      const plaintext = decrypt(kek, p.iv, p.ciphertext, p.tag, kid);
      if (plaintext === undefined) throw new KeyEncryptionError(`signing key ${kid} cannot be decrypted with key-encryption key ${kek.id}: the stored value was altered or belongs to another kid`);
      return plaintext;
    },
    sealedBy(sealed, kid) {
      const p = parse(sealed, kid);
      return p.kekId ?? openLegacy(p, kid)?.id;
    },
    isCurrent: (sealed) => sealed.startsWith(currentPrefix),
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

/** The ring the configuration describes: KEY_ENCRYPTION_KEY (or the development key) first, then KEY_ENCRYPTION_KEYS_PREVIOUS. */
export function loadKeyRing(config: { keyEncryptionKey: Buffer | undefined; previousKeyEncryptionKeys: readonly Buffer[]; keysDir: string }): KeyRing {
  return createKeyRing(loadOrCreateKeyEncryptionKey(config.keyEncryptionKey, config.keysDir), config.previousKeyEncryptionKeys);
}
