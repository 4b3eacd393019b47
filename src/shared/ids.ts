import { randomBytes } from 'node:crypto';

/** `bytes` random bytes as base64url: 16 bytes give the 128 bits RFC 9068 §2.2 asks of a jti. */
export function randomToken(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
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
    lastRandom = BigInt(`0x${randomBytes(10).toString('hex')}`);
  }
  let value = (BigInt(now) << 80n) | (lastRandom & ((1n << 80n) - 1n));
  let out = '';
  for (let i = 0; i < 26; i++) {
    out = CROCKFORD[Number(value & 31n)]! + out;
    value >>= 5n;
  }
  return out;
}
