import { runLoad, type Measurement } from '../load/load-driver.ts';
import type { BenchOptions } from '../options.ts';
import { treeRssBytes } from '../process/process-tree.ts';
import { rowFromRounds, type ResultRow } from '../report/result-row.ts';
import { createBenchDatabase } from '../service/bench-database.ts';
import { heapUsedBytes } from '../service/service-metrics.ts';
import { startBenchService } from '../service/start-service.ts';
import type { Log } from './measure-rounds.ts';

const CHUNKS = 10;

export type Checkpoint = { tokensIssued: number; rssBytes: number; heapUsedBytes: number | undefined };

export type LongRunReport = {
  row: ResultRow;
  start: Checkpoint;
  middle: Checkpoint;
  end: Checkpoint;
  /** After each tenth of the tokens. */
  checkpoints: Checkpoint[];
  rssChangeMiddleToEndPercent: number;
};

/**
 * `options.longTokens` tokens against one configuration (the first database, algorithm and client
 * authentication listed, the last worker count), in ten chunks; memory after a warm-up, at the
 * middle and at the end. private_key_jwt is not offered here: it would need a million assertions.
 */
export async function runLong(options: BenchOptions, log: Log): Promise<LongRunReport> {
  const database = options.databases[0]!;
  const alg = options.algs[0]!;
  const workers = options.workerCounts.at(-1)!;
  if (options.auths[0] !== 'client_secret_basic') throw new Error('BENCH_MODE=long: only client_secret_basic is supported');
  const db = await createBenchDatabase(database, options.postgresUrl);
  try {
    const service = await startBenchService({ alg, database: db, workers, tuning: options.service });
    try {
      const checkpoint = async (tokensIssued: number): Promise<Checkpoint> =>
        ({ tokensIssued, rssBytes: treeRssBytes(service.server.pid), heapUsedBytes: await heapUsedBytes(service.server.url) });
      if (options.warmupSeconds > 0) await runLoad(service.basicTarget, { connections: options.connections, seconds: options.warmupSeconds });
      const start = await checkpoint(0);
      const checkpoints: Checkpoint[] = [];
      const chunks: Measurement[] = [];
      const perChunk = Math.ceil(options.longTokens / CHUNKS);
      for (let chunk = 1; chunk <= CHUNKS; chunk++) {
        const measurement = await runLoad(service.basicTarget, { connections: options.connections, amount: perChunk });
        chunks.push(measurement);
        checkpoints.push(await checkpoint(chunk * perChunk));
        log(`long run: ${(chunk * perChunk).toLocaleString('en-US')} tokens, ${Math.round(measurement.tokensPerSecond)} tokens/s, ` +
          `RSS ${Math.round(checkpoints.at(-1)!.rssBytes / 2 ** 20)} MiB, ${measurement.non2xx} non-2xx`);
      }
      const middle = checkpoints[CHUNKS / 2 - 1]!;
      const end = checkpoints.at(-1)!;
      return {
        row: rowFromRounds({ kind: 'service', label: 'identity-backend', alg, auth: 'client_secret_basic', database, workers }, chunks),
        start,
        middle,
        end,
        checkpoints,
        rssChangeMiddleToEndPercent: ((end.rssBytes - middle.rssBytes) / middle.rssBytes) * 100,
      };
    } finally {
      await service.server.stop();
    }
  } finally {
    await db.drop();
  }
}
