import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAbsoluteUriWithoutFragment } from '../../src/oauth/target.ts';

describe('isAbsoluteUriWithoutFragment (RFC 8707 §2)', () => {
  for (const good of [
    'https://orders.internal',
    'https://orders.internal/api?v=1',
    'http://localhost:8080/admin',
    'urn:example:orders',
    'spiffe://cluster.local/ns/shop/sa/orders',
    `https://a.example/${'x'.repeat(2020)}`,
  ]) {
    it(`accepts ${good.slice(0, 60)}`, () => {
      assert.equal(isAbsoluteUriWithoutFragment(good), true);
    });
  }

  for (const bad of [
    '',
    'orders',
    '/orders',
    '//orders.internal',
    'https://orders.internal#frag',
    'https://orders.internal/#',
    'https://orders internal',
    'https://orders.internal/\u0000',
    'https://ｏrders.internal',
    'https://orders.internal/\u202E',
    ' https://orders.internal',
    '1http://x',
    `https://a.example/${'x'.repeat(2040)}`,
  ]) {
    it(`refuses ${JSON.stringify(bad.slice(0, 60))}`, () => {
      assert.equal(isAbsoluteUriWithoutFragment(bad), false);
    });
  }
});
