import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logSafe } from '../../src/shared/log-safe.ts';

describe('logSafe', () => {
  it('writes control, format and separator characters as \\u{…}, in keys and nested values, and leaves the rest alone', () => {
    const date = new Date(0);
    assert.deepEqual(logSafe({ id: '\ufeffc-post', list: ['x\u202e', 'ok'], 'k\u0000': { deep: 'a\nb\u2028c' }, n: 1, none: null, date }), {
      id: '\\u{feff}c-post', list: ['x\\u{202e}', 'ok'], 'k\\u{0000}': { deep: 'a\\u{000a}b\\u{2028}c' }, n: 1, none: null, date,
    });
    const plain = { a: 'orders:read', b: ['https://orders.internal'] };
    assert.equal(logSafe(plain), plain, 'a clean record is not copied');
    // The same value twice: a stateful (global) pattern would miss the second.
    assert.equal(logSafe('\u202e'), '\\u{202e}');
    assert.equal(logSafe('\u202e'), '\\u{202e}');
  });
});
