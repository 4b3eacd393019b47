import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMicroBatcher } from '../../src/shared/micro-batcher.ts';

/** A run function that records each batch and finishes it only when told to. */
function controlledRun() {
  const batches: Array<{ items: readonly number[]; finish: () => void; fail: (e: Error) => void }> = [];
  const run = (items: readonly number[]) => new Promise<number[]>((resolve, reject) => {
    batches.push({ items, finish: () => resolve(items.map((i) => i * 10)), fail: reject });
  });
  return { batches, run };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('micro-batcher', () => {
  it('hands the calls of one turn to one run, and gives each caller its own result', async () => {
    const { batches, run } = controlledRun();
    const call = createMicroBatcher(run, { maxBatch: 100, maxInFlight: 1 });
    const results = Promise.all([1, 2, 3].map(call));
    await turn();
    assert.deepEqual(batches.map((b) => b.items), [[1, 2, 3]]);
    batches[0]!.finish();
    assert.deepEqual(await results, [10, 20, 30]);
  });

  it('gathers calls made while the in-flight limit is reached into the next batch, run as soon as one finishes', async () => {
    const { batches, run } = controlledRun();
    const call = createMicroBatcher(run, { maxBatch: 100, maxInFlight: 1 });
    const first = call(1);
    await turn();
    const later = [call(2), call(3)];
    await turn();
    assert.equal(batches.length, 1, 'nothing more runs while one batch is in flight');
    batches[0]!.finish();
    assert.equal(await first, 10);
    await turn();
    assert.deepEqual(batches.map((b) => b.items), [[1], [2, 3]]);
    batches[1]!.finish();
    assert.deepEqual(await Promise.all(later), [20, 30]);
  });

  it('splits a burst larger than maxBatch, up to maxInFlight batches at once', async () => {
    const { batches, run } = controlledRun();
    const call = createMicroBatcher(run, { maxBatch: 2, maxInFlight: 2 });
    const all = Promise.all([1, 2, 3, 4, 5].map(call));
    await turn();
    assert.deepEqual(batches.map((b) => b.items), [[1, 2], [3, 4]]);
    batches[0]!.finish();
    await turn();
    assert.deepEqual(batches.map((b) => b.items), [[1, 2], [3, 4], [5]]);
    batches[1]!.finish();
    batches[2]!.finish();
    assert.deepEqual(await all, [10, 20, 30, 40, 50]);
  });

  it('fails every caller of a failed batch, and only those; reports each batch to the observer', async () => {
    const { batches, run } = controlledRun();
    const seen: Array<{ size: number; ok: boolean }> = [];
    const call = createMicroBatcher(run, { maxBatch: 100, maxInFlight: 2, observe: ({ size, ok }) => seen.push({ size, ok }) });
    const failing = [call(1), call(2)];
    await turn();
    const passing = call(3);
    await turn();
    batches[0]!.fail(new Error('store down'));
    batches[1]!.finish();
    for (const p of failing) await assert.rejects(p, /store down/);
    assert.equal(await passing, 30);
    assert.deepEqual(seen, [{ size: 2, ok: false }, { size: 1, ok: true }]);
  });
});
