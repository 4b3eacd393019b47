import type { Measurement } from '../load/load-driver.ts';
import type { DatabaseKind, SigningAlg } from '../options.ts';

export type RowKind = 'jose' | 'floor' | 'oidc-provider' | 'service';

/** One line of the table: a reference or one service configuration, over all its rounds. */
export type ResultRow = {
  kind: RowKind;
  label: string;
  alg: SigningAlg;
  auth: string;
  database?: DatabaseKind;
  workers?: number;
  /** Median over the rounds. */
  tokensPerSecond?: number;
  latencyMs?: { p50: number; p99: number };
  non2xx?: number;
  errors?: number;
  statusCounts?: Record<string, number>;
  checked?: number;
  peakRssBytes?: number;
  /** Why this row does not count: non-2xx answers, failed verification, a server that did not start. */
  problems: string[];
  /** Worth knowing, not a failure. */
  notes?: string[];
  rounds: Array<Measurement | { tokensPerSecond: number }>;
};

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/** A row from measured rounds: medians of rate and latency, sums of failures, the highest RSS. */
export function rowFromRounds(base: Omit<ResultRow, 'problems' | 'rounds'>, rounds: Measurement[]): ResultRow {
  const statusCounts: Record<string, number> = {};
  for (const round of rounds) for (const [status, count] of Object.entries(round.statusCounts)) statusCounts[status] = (statusCounts[status] ?? 0) + count;
  const sum = (pick: (m: Measurement) => number) => rounds.reduce((total, round) => total + pick(round), 0);
  const non2xx = sum((m) => m.non2xx);
  const errors = sum((m) => m.errors);
  const checked = sum((m) => m.verification.checked);
  const failed = sum((m) => m.verification.failed);
  const problems: string[] = [];
  if (non2xx > 0) {
    const refusals = Object.entries(statusCounts).filter(([status]) => !status.startsWith('2')).map(([status, count]) => `${count}×${status}`);
    const first = rounds.find((m) => m.firstRefusal !== undefined)?.firstRefusal;
    problems.push(`non-2xx answers: ${refusals.join(', ')}${first ? ` (first: ${first})` : ''}`);
  }
  if (errors > 0) problems.push(`${errors} connection errors or timeouts`);
  if (failed > 0) problems.push(`${failed} of ${checked} sampled tokens failed verification (${rounds.find((m) => m.verification.firstFailure)?.verification.firstFailure})`);
  if (checked === 0) problems.push('no token was verified');
  return {
    ...base,
    tokensPerSecond: median(rounds.map((m) => m.tokensPerSecond)),
    latencyMs: { p50: median(rounds.map((m) => m.latencyMs.p50)), p99: median(rounds.map((m) => m.latencyMs.p99)) },
    non2xx,
    errors,
    statusCounts,
    checked,
    peakRssBytes: Math.max(...rounds.map((m) => m.peakRssBytes)),
    problems,
    rounds,
  };
}

/** A reference measured in-process: a rate per round, nothing to check. */
export function rowFromRates(base: Omit<ResultRow, 'problems' | 'rounds'>, rates: number[]): ResultRow {
  return { ...base, tokensPerSecond: median(rates), problems: [], rounds: rates.map((tokensPerSecond) => ({ tokensPerSecond })) };
}

/** A configuration that could not be measured at all. */
export function failedRow(base: Omit<ResultRow, 'problems' | 'rounds'>, problem: string): ResultRow {
  return { ...base, problems: [problem], rounds: [] };
}
