import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDurationSeconds } from '../../src/shared/duration.ts';

describe('parseDurationSeconds', () => {
  it('reads bare seconds and the s, m, h and d units', () => {
    assert.equal(parseDurationSeconds('900'), 900);
    assert.equal(parseDurationSeconds('900s'), 900);
    assert.equal(parseDurationSeconds('15m'), 900);
    assert.equal(parseDurationSeconds('1h'), 3600);
    assert.equal(parseDurationSeconds('1d'), 86_400);
    assert.equal(parseDurationSeconds('30d'), 2_592_000);
    assert.equal(parseDurationSeconds('0'), 0);
  });

  it('ignores surrounding whitespace', () => {
    assert.equal(parseDurationSeconds(' 15m\n'), 900);
  });

  it('accepts at most nine digits', () => {
    assert.equal(parseDurationSeconds('999999999'), 999_999_999);
    assert.equal(parseDurationSeconds('1000000000'), undefined);
  });

  for (const bad of ['', ' ', 'm', '15 m', '1.5h', '-5', '+5', '1e3', '1w', '1H', '15min', '1h30m', '0x10', '١٥']) {
    it(`refuses "${bad}"`, () => {
      assert.equal(parseDurationSeconds(bad), undefined);
    });
  }
});
