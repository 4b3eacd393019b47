/** Control, format (bidi overrides, BOM) and line/paragraph separators: what a log viewer would act on or hide. */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'gu');

const escapeChar = (c: string) => `\\u{${c.codePointAt(0)!.toString(16).padStart(4, '0')}}`;

/**
 * A value for a log line with every such character written as \u{…}: JSON escapes control
 * characters but not U+202E or U+FEFF, which would let a client id reorder or hide what an operator
 * reads. Only what holds one is copied; everything else is returned as it is.
 */
export function logSafe<T>(value: T): T {
  if (typeof value === 'string') return (UNSAFE.test(value) ? value.replace(UNSAFE_ALL, escapeChar) : value) as T;
  if (Array.isArray(value)) {
    const safe = value.map(logSafe);
    return (safe.some((v, i) => v !== value[i]) ? safe : value) as T;
  }
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    // Every audit event passes here (one log line per token): a clean record is returned as it is, not copied.
    const entries = Object.entries(value);
    const safe = entries.map(([k, v]) => [logSafe(k), logSafe(v)] as const);
    return (safe.some(([k, v], i) => k !== entries[i]![0] || v !== entries[i]![1]) ? Object.fromEntries(safe) : value) as T;
  }
  return value;
}
