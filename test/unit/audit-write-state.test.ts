import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAuditWriteState } from '../../src/audit/audit-write-state.ts';

describe('audit write state (readiness after a refused audit write)', () => {
  it('is clear until a write is refused, then for the hold after the last refusal, whatever succeeds in between', () => {
    let now = 1000;
    const state = createAuditWriteState(5000, () => now);
    assert.equal(state.refusedRecently(), false);
    state.observe({ ok: true });
    assert.equal(state.refusedRecently(), false);
    state.observe({ ok: false });
    assert.equal(state.refusedRecently(), true);
    now += 3000;
    // A partly full disk accepts some writes: one success does not end the hold.
    state.observe({ ok: true });
    assert.equal(state.refusedRecently(), true);
    state.observe({ ok: false });
    now += 4999;
    assert.equal(state.refusedRecently(), true, 'the hold runs from the last refusal');
    now += 1;
    assert.equal(state.refusedRecently(), false);
  });
});
