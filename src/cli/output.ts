import type { CliError } from './exit-codes.ts';

/**
 * Where a command's words go. stdout carries only the result (JSON with --json, text otherwise),
 * so `$(…)` and pipes get exactly that; notes for the person at the terminal go to stderr.
 */
export type Output = {
  readonly json: boolean;
  /** The command's result. */
  result(value: unknown, text: () => string): void;
  /** One JSON line per item with --json (a stream such as `audit tail`), else the text. */
  item(value: unknown, text: () => string): void;
  /** Exactly this text on stdout in both modes (a token for `$(…)`). */
  raw(text: string): void;
  /** A note for a person, on stderr; left out with --json, where only errors go to stderr. */
  note(text: string): void;
  /** A warning, on stderr in both modes. */
  warn(text: string): void;
  /** The failure line: `identity-backend: …` or, with --json, one JSON object. */
  failure(error: CliError): void;
};

export function createOutput(json: boolean, streams: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = process): Output {
  const line = (stream: NodeJS.WritableStream, text: string) => stream.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
  return {
    json,
    result(value, text) {
      line(streams.stdout, json ? JSON.stringify(value, null, 2) : text());
    },
    item(value, text) {
      line(streams.stdout, json ? JSON.stringify(value) : text());
    },
    raw(text) {
      line(streams.stdout, text);
    },
    note(text) {
      if (!json) line(streams.stderr, text);
    },
    warn(text) {
      line(streams.stderr, json ? JSON.stringify({ warning: text }) : `identity-backend: warning: ${text}`);
    },
    failure(error) {
      line(streams.stderr, json
        ? JSON.stringify({ error: error.message, exit_code: error.exitCode, ...error.details })
        : `identity-backend: ${error.message}`);
    },
  };
}

/** `name  value` lines, names aligned; arrays space-separated, absent values as "-". */
export function fieldLines(record: Record<string, unknown>): string {
  const width = Math.max(...Object.keys(record).map((k) => k.length));
  return Object.entries(record).map(([k, v]) => `${k.padEnd(width)}  ${show(v)}`).join('\n');
}

/** A table with a header row; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const render = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [render(header), ...rows.map(render)].join('\n');
}

export function show(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  if (Array.isArray(value)) return value.length ? value.map(show).join(' ') : '-';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

