import { availableParallelism } from 'node:os';
import { startBenchWorker } from '../runtime.ts';
import { createAssertionBodySigner, type AssertionSpec } from './assertion-signer.ts';

export type AssertionBodies = {
  next(): string;
  /** Bodies signed on the spot because the prepared ones ran out (the estimate was too low). */
  signedDuringRun(): number;
};

function signInWorker(spec: AssertionSpec, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const worker = startBenchWorker('load/assertion-worker', { spec, count });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

/**
 * `count` request bodies signed ahead, on every core, so signing does not compete with the
 * measurement; if they run out, further bodies are signed as requested (and counted).
 */
export async function prepareAssertionBodies(spec: AssertionSpec, count: number): Promise<AssertionBodies> {
  const threads = Math.max(1, Math.min(availableParallelism(), Math.ceil(count / 2000)));
  const share = Math.ceil(count / threads);
  const batches = await Promise.all(Array.from({ length: threads }, () => signInWorker(spec, share)));
  const bodies = batches.flat();
  const signNow = createAssertionBodySigner(spec);
  let used = 0;
  let signedNow = 0;
  return {
    next() {
      if (used < bodies.length) return bodies[used++]!;
      signedNow++;
      return signNow();
    },
    signedDuringRun: () => signedNow,
  };
}
