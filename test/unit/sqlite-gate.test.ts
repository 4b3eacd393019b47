import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSerialGate, gated, openGate } from '../../src/persistence/sqlite-gate.ts';

const tick = (ms = 1) => new Promise((resolve) => setTimeout(resolve, ms));

describe('createSerialGate', () => {
  it('runs units of work one at a time, in the order they arrived', async () => {
    const gate = createSerialGate();
    const log: string[] = [];
    const unit = (name: string, ms: number) => gate.run(async () => {
      log.push(`${name} start`);
      await tick(ms);
      log.push(`${name} end`);
      return name;
    });
    const results = await Promise.all([unit('a', 20), unit('b', 1), unit('c', 5)]);
    assert.deepEqual(results, ['a', 'b', 'c']);
    assert.deepEqual(log, ['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
  });

  it('passes work already holding the gate straight through, so nested calls do not deadlock', async () => {
    const gate = createSerialGate();
    const log: string[] = [];
    const outer = gate.run(async () => {
      log.push('outer start');
      await tick();
      const inner = await gate.run(async () => { log.push('inner'); return 42; });
      log.push('outer end');
      return inner;
    });
    const later = gate.run(async () => { log.push('later'); });
    assert.equal(await outer, 42);
    await later;
    assert.deepEqual(log, ['outer start', 'inner', 'outer end', 'later']);
  });

  it('makes a caller from outside wait while a unit is suspended at an await', async () => {
    const gate = createSerialGate();
    let release!: () => void;
    const held = new Promise<void>((resolve) => { release = resolve; });
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => { entered = resolve; });
    const log: string[] = [];
    const first = gate.run(async () => { entered(); await held; log.push('first'); });
    await inside;
    // Issued from outside the first unit's async context.
    const second = gate.run(async () => { log.push('second'); });
    await tick(10);
    assert.deepEqual(log, [], 'the second unit waits');
    release();
    await Promise.all([first, second]);
    assert.deepEqual(log, ['first', 'second']);
  });

  it('keeps going after a unit fails, and gives the failure to its caller only', async () => {
    const gate = createSerialGate();
    const failure = new Error('boom');
    const failed = gate.run(async () => { await tick(); throw failure; });
    const next = gate.run(async () => 'still runs');
    await assert.rejects(failed, (error: unknown) => error === failure);
    assert.equal(await next, 'still runs');
  });

  it('also keeps going after a unit throws synchronously', async () => {
    const gate = createSerialGate();
    const failed = gate.run(() => { throw new Error('sync'); });
    await assert.rejects(failed, /sync/);
    assert.equal(await gate.run(async () => 'next'), 'next');
  });
});

describe('openGate', () => {
  it('runs work at once, concurrently', async () => {
    const log: string[] = [];
    await Promise.all([
      openGate.run(async () => { log.push('a start'); await tick(10); log.push('a end'); }),
      openGate.run(async () => { log.push('b start'); await tick(1); log.push('b end'); }),
    ]);
    assert.deepEqual(log, ['a start', 'b start', 'b end', 'a end']);
  });
});

describe('gated', () => {
  it('runs every method through the gate and leaves other members as they are', async () => {
    const gate = createSerialGate();
    const log: string[] = [];
    const store = {
      name: 'store',
      async slow() { log.push('slow start'); await tick(10); log.push('slow end'); return this.name; },
      async fast() { log.push('fast'); return 1; },
    };
    const wrapped = gated(store, gate);
    assert.equal(wrapped.name, 'store');
    const [slow, fast] = await Promise.all([wrapped.slow(), wrapped.fast()]);
    assert.equal(slow, 'store', 'methods keep their this');
    assert.equal(fast, 1);
    assert.deepEqual(log, ['slow start', 'slow end', 'fast']);
  });
});
