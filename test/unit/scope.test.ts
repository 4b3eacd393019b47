import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseScope, SCOPE_TOKEN } from '../../src/oauth/scope.ts';

describe('SCOPE_TOKEN (RFC 6749 §3.3)', () => {
  it('admits every printable ASCII character except space, " and \\', () => {
    for (let code = 0x21; code <= 0x7e; code++) {
      const char = String.fromCharCode(code);
      assert.equal(SCOPE_TOKEN.test(char), char !== '"' && char !== '\\', `U+${code.toString(16)}`);
    }
  });

  it('refuses control characters, space, DEL and anything beyond ASCII', () => {
    for (const text of ['', ' ', '\t', '\n', '\u0000', '\u007f', 'é', 'orders\u202Eread', 'ｏrders']) {
      assert.equal(SCOPE_TOKEN.test(text), false, JSON.stringify(text));
    }
  });
});

describe('parseScope', () => {
  it('splits on single spaces', () => {
    assert.deepEqual(parseScope('orders:read'), ['orders:read']);
    assert.deepEqual(parseScope('orders:read orders:write https://api.example/x'), ['orders:read', 'orders:write', 'https://api.example/x']);
  });

  it('drops repeated tokens, keeping the first order', () => {
    assert.deepEqual(parseScope('b a b a'), ['b', 'a']);
  });

  it('is case-sensitive', () => {
    assert.deepEqual(parseScope('Orders:read orders:read'), ['Orders:read', 'orders:read']);
  });

  for (const bad of ['', ' ', 'a  b', ' a', 'a ', 'a\tb', 'a\nb', 'say"hi"', 'back\\slash', 'caf\u00e9', 'a\u0000']) {
    it(`refuses ${JSON.stringify(bad)}, which breaks the grammar`, () => {
      assert.equal(parseScope(bad), undefined);
    });
  }
});
