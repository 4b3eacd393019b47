import { randomBytes } from 'node:crypto';

/**
 * Random bytes are drawn from the CSPRNG in blocks and handed out once each (as randomUUID does):
 * one system call per 4 KiB instead of one per token. No byte is ever handed out twice.
 */
const POOL_SIZE = 4096;
let pool = randomBytes(POOL_SIZE);
let offset = 0;
function take(bytes: number): Buffer {
  if (bytes > POOL_SIZE) return randomBytes(bytes);
  if (offset + bytes > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    offset = 0;
  }
  const out = pool.subarray(offset, offset + bytes);
  offset += bytes;
  return out;
}

/** `bytes` random bytes as base64url: 16 bytes give the 128 bits RFC 9068 §2.2 asks of a jti. */
export function randomToken(bytes = 16): string {
  return take(bytes).toString('base64url');
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let lastMs = 0;
let lastRandom = 0n;

/**
 * A ULID (26 Crockford base32 characters: 48-bit milliseconds, 80 random bits), monotonic within
 * this process: ids sort by creation time, so they serve as newest-first cursors.
 */
export function timeOrderedId(now = Date.now()): string {
  if (now <= lastMs) {
    lastRandom += 1n;
    now = lastMs;
  } else {
    lastMs = now;
    lastRandom = BigInt(`0x${take(10).toString('hex')}`);
  }
  let value = (BigInt(now) << 80n) | (lastRandom & ((1n << 80n) - 1n));
  let out = '';
  for (let i = 0; i < 26; i++) {
    out = CROCKFORD[Number(value & 31n)]! + out;
    value >>= 5n;
  }
  return out;
}
