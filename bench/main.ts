// Side-by-side benchmark of POST /token: the service (dist/main.js, audit on, rate limits off) on
// SQLite and PostgreSQL, 1 and N workers, ES256 / RS256 / EdDSA, client_secret_basic and
// private_key_jwt, against three references measured in the same run: jose signing in-process, a
// bare Express 5 + jose endpoint (the floor) and node-oidc-provider. Answers are counted by status
// and sampled tokens verified against each server's JWKS; any failure marks its row and makes the
// exit code 1. The table is printed and written to bench/results/latest.md (+ .json).
//
//   npm run bench                                      # default mode: everything above, 8 s × 3 rounds
//   BENCH_MODE=long npm run bench                      # 1,000,000 tokens on one configuration: RSS and heap at start, middle, end
//   BENCH_MODE=smoke node --import tsx bench/main.ts   # seconds, from source (test/bench/bench-smoke.test.ts, part of npm test)
//
// BENCH_SECONDS (8), BENCH_ROUNDS (3), BENCH_WARMUP_SECONDS (2), BENCH_CONNECTIONS (32),
// BENCH_REQUESTS (unset: a fixed number of requests per measurement instead of BENCH_SECONDS),
// BENCH_ALGS (ES256,RS256,EdDSA), BENCH_AUTH (client_secret_basic,private_key_jwt),
// BENCH_DATABASES (sqlite,postgresql), BENCH_WORKERS (N, default: the cores available),
// BENCH_LONG_TOKENS (1000000), BENCH_RESULTS_DIR (bench/results). PostgreSQL databases are created
// on BENCH_DATABASE_URL, else DATABASE_URL if it is postgresql://…, else
// postgresql://postgres@127.0.0.1:5432/postgres, and skipped with the reason if it is unreachable.
// Long mode: the first database, algorithm and auth listed (client_secret_basic only), 1 worker
// unless BENCH_WORKERS is set. Smoke mode changes the defaults: ES256, SQLite, 1 worker, 8
// connections, 32 requests per measurement, 1 round, no warm-up, every server started at once.
// Passed to the service (options.ts, ServiceTuning): BENCH_SQLITE_SYNCHRONOUS (full | normal; unset: the
// service default, full) as SQLITE_SYNCHRONOUS; BENCH_CPU_PROF_DIR, where each service process writes
// a V8 CPU profile when it stops.
import { runComparison } from './modes/compare.ts';
import { runLong } from './modes/long-run.ts';
import { BenchOptionsError, readBenchOptions, type BenchOptions, type DatabaseKind } from './options.ts';
import { describeMachine, loadAverages } from './report/machine.ts';
import { renderComparison, renderLongRun } from './report/render-report.ts';
import { writeResults } from './report/write-results.ts';
import { projectRoot } from './runtime.ts';
import { postgresUnavailableReason } from './service/bench-database.ts';

const startedAt = performance.now();
const log = (line: string) => process.stderr.write(`[${((performance.now() - startedAt) / 1000).toFixed(1)} s] ${line}\n`);

function readOptions(): BenchOptions {
  try {
    return readBenchOptions(process.env, projectRoot);
  } catch (error) {
    if (!(error instanceof BenchOptionsError)) throw error;
    log(`bench: ${error.message}`);
    process.exit(2);
  }
}

async function unreachableDatabases(options: BenchOptions): Promise<Map<DatabaseKind, string>> {
  const skipped = new Map<DatabaseKind, string>();
  if (options.databases.includes('postgresql')) {
    const reason = await postgresUnavailableReason(options.postgresUrl);
    if (reason !== undefined) {
      log(`PostgreSQL skipped: ${reason}`);
      skipped.set('postgresql', reason);
    }
  }
  return skipped;
}

const options = readOptions();
const machine = describeMachine();
let markdown: string;
let data: unknown;
let failed: boolean;
if (options.mode === 'long') {
  const report = await runLong(options, log);
  machine.loadAverage.end = loadAverages();
  markdown = renderLongRun(report, options, machine);
  data = { options, machine, ...report };
  failed = report.row.problems.length > 0;
} else {
  const skippedDatabases = await unreachableDatabases(options);
  const rows = await runComparison({ ...options, skippedDatabases }, log);
  machine.loadAverage.end = loadAverages();
  markdown = renderComparison(rows, options, machine, skippedDatabases);
  data = { options, machine, skipped: Object.fromEntries(skippedDatabases), rows };
  failed = rows.some((row) => row.problems.length > 0);
}
process.stdout.write(`${markdown}\n`);
const written = writeResults(options.resultsDir, options.mode === 'default' ? 'latest' : `latest-${options.mode}`, markdown, data);
log(`written: ${written} (and .json)${failed ? '; FAILED rows above' : ''}`);
process.exitCode = failed ? 1 : 0;
