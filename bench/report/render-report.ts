import type { LongRunReport } from '../modes/long-run.ts';
import type { BenchOptions } from '../options.ts';
import { compiled } from '../runtime.ts';
import { machineLine, type MachineInfo } from './machine.ts';
import { renderTable } from './render-table.ts';
import type { ResultRow } from './result-row.ts';

const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;

function measurementLength(options: BenchOptions): string {
  const each = options.requests === undefined ? `${options.seconds} s` : `${options.requests} requests`;
  return `${each} per measurement, ${options.rounds} round${options.rounds === 1 ? '' : 's'} (median)`;
}

function methodLines(options: BenchOptions, machine: MachineInfo, length: string): string[] {
  return [
    `POST /token over loopback: autocannon in the bench process, ${options.connections} keep-alive connections, ` +
      `${length}, ${options.warmupSeconds} s warm-up per server and client; the server in its own process.`,
    `Machine: ${machineLine(machine)}.`,
    ...(compiled ? [] : ['Run from source: every server runs through the TypeScript loader, so the figures only show that the bench works.']),
  ];
}

/** The comparison table with the method above it and what a reader must know below it. */
export function renderComparison(rows: ResultRow[], options: BenchOptions, machine: MachineInfo, skipped: Map<string, string>): string {
  return [
    `## identity-backend POST /token, side by side (${new Date().toISOString()})`,
    '',
    ...methodLines(options, machine, measurementLength(options)),
    '',
    renderTable(rows),
    '',
    '- The references answer `client_secret_basic` only (the floor checks no credentials at all; the jose rows only sign); ' +
      '`private_key_jwt` rows are compared with the same floor and oidc-provider figures.',
    '- tokens/s counts 2xx answers only; every answer is counted by status, and a sample of tokens (every 1000th and 20 spread over each run) ' +
      'is verified against the server\'s JWKS (issuer, audience, typ at+jwt, alg). A row with a non-2xx answer or a failed check is marked FAILED.',
    '- peak RSS: the server process and its children (cluster workers), sampled every 200 ms during the measured rounds.',
    '- The service receives `WEB_CONCURRENCY=<workers>`; private_key_jwt assertions are signed ahead of each round, with the token\'s algorithm.',
    ...[...skipped].map(([database, reason]) => `- ${database} skipped: ${reason}.`),
  ].join('\n');
}

/** Memory over a long run: start (after the warm-up), middle and end. */
export function renderLongRun(report: LongRunReport, options: BenchOptions, machine: MachineInfo): string {
  const { row } = report;
  const heap = (bytes: number | undefined) => (bytes === undefined ? '— (no nodejs_heap_size_used_bytes in /metrics)' : mib(bytes));
  const points = [['start', report.start], ['middle', report.middle], ['end', report.end]] as const;
  return [
    `## identity-backend POST /token, long run (${new Date().toISOString()})`,
    '',
    ...methodLines(options, machine, `${options.longTokens.toLocaleString('en-US')} tokens in ten runs of ${Math.ceil(options.longTokens / 10).toLocaleString('en-US')} (the row: median of the ten)`),
    `Configuration: ${row.database}, ${row.alg}, ${row.auth}, ${row.workers} worker${row.workers === 1 ? '' : 's'}. ` +
      'RSS of the process tree; heap: nodejs_heap_size_used_bytes from GET /metrics.',
    '',
    '| point | tokens issued | RSS | heap used |',
    '| --- | --- | --- | --- |',
    ...points.map(([name, point]) => `| ${name} | ${point.tokensIssued.toLocaleString('en-US')} | ${mib(point.rssBytes)} | ${heap(point.heapUsedBytes)} |`),
    '',
    `RSS middle → end: ${report.rssChangeMiddleToEndPercent >= 0 ? '+' : ''}${report.rssChangeMiddleToEndPercent.toFixed(1)} %.`,
    '',
    renderTable([row]),
  ].join('\n');
}
