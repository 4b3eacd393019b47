import type { ResultRow } from './result-row.ts';

const DASH = '—';
const integer = (value: number | undefined) => (value === undefined ? DASH : Math.round(value).toLocaleString('en-US'));
const milliseconds = (value: number | undefined) => (value === undefined ? DASH : String(Math.round(value * 10) / 10));
const ratio = (ours: number | undefined, reference: number | undefined) =>
  ours === undefined || reference === undefined || reference === 0 ? DASH : `${(ours / reference).toFixed(2)}×`;
const mebibytes = (bytes: number | undefined) => (bytes === undefined ? DASH : String(Math.round(bytes / 2 ** 20)));

/** Ratios of a service row to the references of the same algorithm in the same run. */
export function ratiosOf(row: ResultRow, rows: ResultRow[]) {
  const floor = rows.find((r) => r.kind === 'floor' && r.alg === row.alg);
  const oidc = rows.find((r) => r.kind === 'oidc-provider' && r.alg === row.alg);
  return {
    toFloor: ratio(row.tokensPerSecond, floor?.tokensPerSecond),
    toOidcProvider: ratio(row.tokensPerSecond, oidc?.tokensPerSecond),
    p99ToFloor: ratio(row.latencyMs?.p99, floor?.latencyMs?.p99),
  };
}

const HEADER = ['server', 'database', 'alg', 'client auth', 'workers', 'tokens/s', 'p50 ms', 'p99 ms', 'non-2xx / errors',
  'tokens verified', 'peak RSS MiB', 'vs floor', 'vs oidc-provider', 'p99 vs floor', 'check'];

/** The markdown table: references first, then every service configuration with its ratios. */
export function renderTable(rows: ResultRow[]): string {
  const lines = rows.map((row) => {
    const ratios = row.kind === 'service' ? ratiosOf(row, rows) : { toFloor: DASH, toOidcProvider: DASH, p99ToFloor: DASH };
    const measuredOverHttp = row.kind !== 'jose' && row.rounds.length > 0;
    return [
      row.label,
      row.database ?? DASH,
      row.alg,
      row.auth,
      row.workers === undefined ? DASH : String(row.workers),
      integer(row.tokensPerSecond),
      milliseconds(row.latencyMs?.p50),
      milliseconds(row.latencyMs?.p99),
      measuredOverHttp ? `${row.non2xx} / ${row.errors}` : DASH,
      measuredOverHttp ? String(row.checked) : DASH,
      mebibytes(row.peakRssBytes),
      ratios.toFloor,
      ratios.toOidcProvider,
      ratios.p99ToFloor,
      row.problems.length === 0 ? ['ok', ...(row.notes ?? [])].join('; ') : `**FAILED**: ${row.problems.join('; ')}`,
    ];
  });
  return [HEADER, HEADER.map(() => '---'), ...lines].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}
