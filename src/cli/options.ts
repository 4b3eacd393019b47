import { readFileSync } from 'node:fs';
import { parseDurationSeconds } from '../shared/duration.ts';
import { UsageError } from './exit-codes.ts';

/** For an option given several times (`--audience a --audience b`); undefined when never given. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** "900", "15m", "1h", "1d" → seconds, or a usage error naming the option. */
export function durationOption(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seconds = parseDurationSeconds(text);
  if (seconds === undefined) throw new UsageError(`${name}: expected a duration like 900, 15m, 1h or 1d, got ${JSON.stringify(text)}`);
  return seconds;
}

export function positiveInteger(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[1-9]\d{0,8}$/.test(text)) throw new UsageError(`${name}: expected a whole number from 1, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** A token quota: a whole number of tokens (0 = none for this client), or "default" (null: the deployment's). */
export function quotaOption(name: string, text: string | undefined): number | null | undefined {
  if (text === undefined) return undefined;
  if (text === 'default') return null;
  if (!/^(0|[1-9]\d{0,8}|1000000000)$/.test(text)) throw new UsageError(`${name}: expected a whole number of tokens from 0 to 1000000000, or default, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** A JSON object from an option's text, or from a file when the text is @path. */
export function jsonObjectOption(name: string, text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let source = text;
  if (text.startsWith('@')) {
    try {
      source = readFileSync(text.slice(1), 'utf8');
    } catch (error) {
      throw new UsageError(`${name}: cannot read ${text.slice(1)}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(source);
  } catch {
    throw new UsageError(`${name}: not valid JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`${name}: must be a JSON object`);
  return value as Record<string, unknown>;
}
