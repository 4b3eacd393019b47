import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomToken, timeOrderedId } from '../../src/shared/ids.ts';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** The 48-bit millisecond time in the first ten characters of a ULID. */
function timeOf(id: string): number {
  return [...id.slice(0, 10)].reduce((value, char) => value * 32 + CROCKFORD.indexOf(char), 0);
}

describe('timeOrderedId', () => {
  it('is a 26-character Crockford base32 ULID carrying the given time', () => {
    const now = Date.now() + 1000;
    const id = timeOrderedId(now);
    assert.match(id, ULID);
    assert.equal(timeOf(id), now);
  });

  it('increases strictly within one millisecond', () => {
    const now = Date.now() + 2000;
    const ids = Array.from({ length: 1000 }, () => timeOrderedId(now));
    assert.equal(new Set(ids).size, ids.length);
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} < ${ids[i]}`);
    assert.ok(ids.every((id) => timeOf(id) === now));
  });

  it('keeps increasing when the clock steps back', () => {
    const now = Date.now() + 3000;
    const first = timeOrderedId(now);
    const second = timeOrderedId(now - 60_000);
    assert.ok(first < second);
    assert.equal(timeOf(second), now);
  });

  it('sorts by time as plain strings', () => {
    const base = Date.now() + 4000;
    const times = [base, base + 1, base + 1000, base + 86_400_000];
    const ids = times.map((t) => timeOrderedId(t));
    assert.deepEqual([...ids].sort(), ids);
    assert.deepEqual(ids.map(timeOf), times);
  });

  it('differs in its random part between milliseconds', () => {
    const base = Date.now() + 90_000_000;
    const randoms = new Set(Array.from({ length: 50 }, (_, i) => timeOrderedId(base + i).slice(10)));
    assert.equal(randoms.size, 50);
  });
});

describe('randomToken', () => {
  it('gives 16 random bytes as base64url by default (RFC 9068 §2.2 jti)', () => {
    const token = randomToken();
    assert.match(token, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(Buffer.from(token, 'base64url').length, 16);
    assert.notEqual(randomToken(), token);
    assert.equal(Buffer.from(randomToken(32), 'base64url').length, 32);
  });
});
