import { createHmac } from 'node:crypto';

/** One key-encryption key and the id every blob it seals or hash it keys is labelled with. */
export type KeyEncryptionKey = Readonly<{ id: string; key: Buffer }>;

/**
 * The key-encryption keys this process holds: `current` seals new private keys and keys new
 * secret hashes; `previous` ones (KEY_ENCRYPTION_KEYS_PREVIOUS) still open and verify what they
 * made until `keys rewrap` and secret re-hashing have moved everything to the current one.
 */
export type KeyRing = Readonly<{
  current: KeyEncryptionKey;
  previous: readonly KeyEncryptionKey[];
  /** Current first, then the previous ones in the configured order. */
  all: readonly KeyEncryptionKey[];
  byId(id: string): KeyEncryptionKey | undefined;
}>;

/**
 * The id is derived from the key (an HMAC of a fixed label under it, 72 bits), so operators have
 * no ids to keep in step with keys, a blob can never name the wrong key, and the id says nothing
 * about the key itself.
 */
export function keyEncryptionKeyId(key: Buffer): string {
  return createHmac('sha256', key).update('identity-backend key-encryption key id v1').digest().subarray(0, 9).toString('base64url');
}

function entry(key: Buffer): KeyEncryptionKey {
  if (key.length !== 32) throw new Error('the key-encryption key must be 32 bytes');
  return Object.freeze({ id: keyEncryptionKeyId(key), key: Buffer.from(key) });
}

export function createKeyRing(current: Buffer, previous: readonly Buffer[] = []): KeyRing {
  const all = [entry(current), ...previous.map(entry)];
  const byId = new Map<string, KeyEncryptionKey>();
  for (const k of all) {
    if (byId.has(k.id)) throw new Error(`key-encryption key ${k.id} is configured twice`);
    byId.set(k.id, k);
  }
  return Object.freeze({ current: all[0]!, previous: Object.freeze(all.slice(1)), all: Object.freeze(all), byId: (id: string) => byId.get(id) });
}

/** A Buffer stands for a ring of that one key (callers and tests that predate the ring). */
export function asKeyRing(ring: KeyRing | Buffer): KeyRing {
  return Buffer.isBuffer(ring) ? createKeyRing(ring) : ring;
}
