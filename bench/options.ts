import { availableParallelism } from 'node:os';
import path from 'node:path';
import { ASSERTION_LIFETIME_SECONDS } from './load/assertion-signer.ts';

export const SIGNING_ALGS = ['ES256', 'RS256', 'EdDSA'] as const;
export const AUTH_METHODS = ['client_secret_basic', 'private_key_jwt'] as const;
export const DATABASES = ['sqlite', 'postgresql'] as const;
export const MODES = ['default', 'long', 'smoke'] as const;

export type SigningAlg = (typeof SIGNING_ALGS)[number];
export type AuthMethod = (typeof AUTH_METHODS)[number];
export type DatabaseKind = (typeof DATABASES)[number];
export type BenchMode = (typeof MODES)[number];

export type BenchOptions = {
  mode: BenchMode;
  /** Length of one measurement, and how many are taken per configuration (the median is reported). */
  seconds: number;
  rounds: number;
  /**
   * A fixed number of requests per measurement instead of `seconds` (smoke mode: a time-boxed run on
   * a loaded machine can end before the first slow answer arrives, and then proves nothing).
   */
  requests: number | undefined;
  /** Load before the first round of each process, not counted: JIT, pools and caches warm up. */
  warmupSeconds: number;
  connections: number;
  /** Start every server of an algorithm at once instead of each just before it is measured (smoke mode: start-up dominates). */
  overlapStartups: boolean;
  algs: SigningAlg[];
  auths: AuthMethod[];
  databases: DatabaseKind[];
  /** 1, and N (BENCH_WORKERS, else every core) when N > 1; long mode runs the last of them. */
  workerCounts: number[];
  /** The server on which a fresh PostgreSQL database is created per service start. */
  postgresUrl: string;
  longTokens: number;
  resultsDir: string;
  /** What every service process is started with beyond the bench's own settings. */
  service: ServiceTuning;
};

/**
 * BENCH_SQLITE_SYNCHRONOUS (unset: the service default, full) becomes the service's SQLITE_SYNCHRONOUS;
 * BENCH_CPU_PROF_DIR makes each service process write a V8 CPU profile there when it stops.
 */
export type ServiceTuning = { sqliteSynchronous: 'full' | 'normal' | undefined; cpuProfileDir: string | undefined };

export class BenchOptionsError extends Error {}

const DEFAULT_POSTGRES_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';
const isPostgresUrl = (url: string | undefined): url is string => /^postgres(ql)?:\/\//.test(url ?? '');

function positiveInteger(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new BenchOptionsError(`${name}: expected a positive integer, got "${raw}"`);
  return value;
}

function seconds(env: NodeJS.ProcessEnv, name: string, fallback: number, { allowZero }: { allowZero: boolean }): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !allowZero)) {
    throw new BenchOptionsError(`${name}: expected a number of seconds${allowZero ? ' ≥ 0' : ' > 0'}, got "${raw}"`);
  }
  return value;
}

function listOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: readonly T[]): T[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return [...fallback];
  const items = raw.split(',').map((item) => item.trim()).filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item as T)) throw new BenchOptionsError(`${name}: "${item}" is not one of ${allowed.join(', ')}`);
  }
  return [...new Set(items as T[])];
}

/** One of `allowed`, or undefined when the variable is unset or blank. */
function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[]): T | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  if (!allowed.includes(raw as T)) throw new BenchOptionsError(`${name}: expected one of ${allowed.join(', ')}, got "${raw}"`);
  return raw as T;
}

/**
 * The options of one run, read once from BENCH_* variables. Smoke mode changes the defaults
 * (one algorithm, SQLite, 1 s, one round, one worker), not the meaning of a variable that is set.
 */
export function readBenchOptions(env: NodeJS.ProcessEnv = process.env, projectRoot: string): BenchOptions {
  const [mode] = listOf(env, 'BENCH_MODE', MODES, ['default']);
  if (mode === undefined) throw new BenchOptionsError('BENCH_MODE: expected one mode');
  const smoke = mode === 'smoke';
  const workers = positiveInteger(env, 'BENCH_WORKERS', availableParallelism());
  const options: BenchOptions = {
    mode,
    seconds: seconds(env, 'BENCH_SECONDS', smoke ? 1 : 8, { allowZero: false }),
    rounds: positiveInteger(env, 'BENCH_ROUNDS', smoke ? 1 : 3),
    requests: env.BENCH_REQUESTS || smoke ? positiveInteger(env, 'BENCH_REQUESTS', 32) : undefined,
    warmupSeconds: seconds(env, 'BENCH_WARMUP_SECONDS', smoke ? 0 : 2, { allowZero: true }),
    connections: positiveInteger(env, 'BENCH_CONNECTIONS', smoke ? 8 : 32),
    overlapStartups: smoke,
    algs: listOf(env, 'BENCH_ALGS', SIGNING_ALGS, smoke || mode === 'long' ? ['ES256'] : SIGNING_ALGS),
    auths: listOf(env, 'BENCH_AUTH', AUTH_METHODS, mode === 'long' ? ['client_secret_basic'] : AUTH_METHODS),
    databases: listOf(env, 'BENCH_DATABASES', DATABASES, smoke || mode === 'long' ? ['sqlite'] : DATABASES),
    workerCounts: smoke || (mode === 'long' && env.BENCH_WORKERS === undefined) ? [1] : [...new Set([1, workers])],
    postgresUrl: env.BENCH_DATABASE_URL || (isPostgresUrl(env.DATABASE_URL) ? env.DATABASE_URL : DEFAULT_POSTGRES_URL),
    longTokens: positiveInteger(env, 'BENCH_LONG_TOKENS', 1_000_000),
    resultsDir: env.BENCH_RESULTS_DIR || path.join(projectRoot, 'bench', 'results'),
    service: {
      sqliteSynchronous: oneOf(env, 'BENCH_SQLITE_SYNCHRONOUS', ['full', 'normal'] as const),
      cpuProfileDir: env.BENCH_CPU_PROF_DIR ? path.resolve(env.BENCH_CPU_PROF_DIR) : undefined,
    },
  };
  // Assertions are signed ahead of each run and must still be valid at its end.
  const longestAssertionRun = ASSERTION_LIFETIME_SECONDS - 60;
  if (options.auths.includes('private_key_jwt') && options.requests === undefined && Math.max(options.seconds, options.warmupSeconds) > longestAssertionRun) {
    throw new BenchOptionsError(`BENCH_SECONDS: private_key_jwt runs can last at most ${longestAssertionRun} s (assertions are signed ahead)`);
  }
  return options;
}
