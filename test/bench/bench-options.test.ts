import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { BenchOptionsError, readBenchOptions } from '../../bench/options.ts';

const ROOT = '/project';

describe('bench options (BENCH_* variables, read once)', () => {
  it('passes nothing extra to the service by default, and the SQLite durability and a profile directory when set', () => {
    assert.deepEqual(readBenchOptions({}, ROOT).service, { sqliteSynchronous: undefined, cpuProfileDir: undefined });
    const tuned = readBenchOptions({ BENCH_SQLITE_SYNCHRONOUS: 'normal', BENCH_CPU_PROF_DIR: 'prof' }, ROOT).service;
    assert.deepEqual(tuned, { sqliteSynchronous: 'normal', cpuProfileDir: path.resolve('prof') });
  });

  it('refuses a bad value with a message that names the variable', () => {
    for (const [name, value] of [['BENCH_SQLITE_SYNCHRONOUS', 'off'], ['BENCH_SQLITE_SYNCHRONOUS', 'full,normal'], ['BENCH_SECONDS', '0'], ['BENCH_ALGS', 'HS256']] as const) {
      assert.throws(() => readBenchOptions({ [name]: value }, ROOT), (e: unknown) => e instanceof BenchOptionsError && e.message.startsWith(`${name}:`), `${name}=${value}`);
    }
  });
});
