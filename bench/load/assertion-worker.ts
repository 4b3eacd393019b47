// Worker thread of assertion-pool.ts: signs workerData.count request bodies and posts them back.
import { parentPort, workerData } from 'node:worker_threads';
import { createAssertionBodySigner, type AssertionSpec } from './assertion-signer.ts';

const { spec, count } = workerData as { spec: AssertionSpec; count: number };
const next = createAssertionBodySigner(spec);
parentPort!.postMessage(Array.from({ length: count }, next));
