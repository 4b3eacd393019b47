import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * How this bench was started decides how it starts its processes. Compiled (`npm run bench`,
 * dist/bench/…): every server runs as plain `node file.js`, so its RSS and CPU hold nothing but
 * the server. From source (the smoke test, `node --import tsx bench/main.ts`): servers run through
 * the same TypeScript loader, which adds its own memory and esbuild helper processes; the figures
 * are then only a check that everything works, not a measurement.
 */
export const compiled = !import.meta.url.endsWith('.ts');

/** The repository root: bench/ from source, dist/bench/bench/ compiled. */
export const projectRoot = fileURLToPath(new URL(compiled ? '../../../' : '../', import.meta.url));

const loader = compiled ? [] : ['--import', 'tsx'];

/** `node` arguments that run a bench module (path below bench/, without extension) as its own process. */
export function benchModuleArgs(module: string): string[] {
  return [...loader, fileURLToPath(benchModuleUrl(module))];
}

function benchModuleUrl(module: string): URL {
  return new URL(`${module}${compiled ? '.js' : '.ts'}`, import.meta.url);
}

/**
 * A bench module in a worker thread. From source the worker registers the loader itself: on
 * Node 20 the `--import tsx` hooks of the main thread do not reach worker threads.
 */
export function startBenchWorker(module: string, workerData: unknown): Worker {
  const url = benchModuleUrl(module);
  if (compiled) return new Worker(url, { workerData });
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}

/** `node` arguments that run the service: the build in dist/, or src/ through the loader. */
export function serviceArgs(cpuProfileDir?: string): string[] {
  // A V8 CPU profile of each service process, written when it stops (where the time goes).
  const profile = cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`] : [];
  if (!compiled) return [...profile, ...loader, 'src/main.ts'];
  if (!existsSync(`${projectRoot}/dist/main.js`)) throw new Error('dist/main.js is missing: run `npm run build` first');
  return [...profile, 'dist/main.js'];
}
