import { runLoad, type Measurement, type RunLength } from '../load/load-driver.ts';
import type { TokenTarget } from '../load/token-target.ts';
import type { BenchOptions } from '../options.ts';

export type Log = (line: string) => void;

/** A target for one run; `expectedRate` (tokens/s of the previous run, if any) sizes what must be prepared. */
export type TargetForRun = (length: RunLength, expectedRate: number | undefined) => Promise<TokenTarget>;

/** Warm-up (not counted), then `options.rounds` measurements of `options.seconds` (or `options.requests`) each. */
export async function measureRounds(label: string, options: BenchOptions, targetFor: TargetForRun, log: Log, expectedRate?: number): Promise<Measurement[]> {
  let previousRate = expectedRate;
  const run = async (length: RunLength) => {
    const measurement = await runLoad(await targetFor(length, previousRate), { connections: options.connections, ...length });
    previousRate = measurement.tokensPerSecond || previousRate;
    return measurement;
  };
  if (options.warmupSeconds > 0) await run({ seconds: options.warmupSeconds });
  const rounds: Measurement[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    const measurement = await run(options.requests === undefined ? { seconds: options.seconds } : { amount: options.requests });
    log(`${label}, round ${round}/${options.rounds}: ${Math.round(measurement.tokensPerSecond)} tokens/s, p99 ${measurement.latencyMs.p99} ms, ` +
      `${measurement.non2xx} non-2xx, ${measurement.errors} errors, ${measurement.verification.checked - measurement.verification.failed}/${measurement.verification.checked} tokens verified`);
    rounds.push(measurement);
  }
  return rounds;
}

/** The same target for every run. */
export const fixedTarget = (target: TokenTarget): TargetForRun => async () => target;
