/** Control, format (bidi overrides, BOM) and line/paragraph separators: what a log viewer would act on or hide. */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'gu');

const escapeChar = (c: string) => `\\u{${c.codePointAt(0)!.toString(16).padStart(4, '0')}}`;

/**
 * A value for a log line with every such character written as \u{…}: JSON escapes control
 * characters but not U+202E or U+FEFF, which would let a client id reorder or hide what an operator
 * reads. Strings only change when they hold one; everything else is returned as it is.
 */
export function logSafe<T>(value: T): T {
  if (typeof value === 'string') return (UNSAFE.test(value) ? value.replace(UNSAFE_ALL, escapeChar) : value) as T;
  if (Array.isArray(value)) return value.map(logSafe) as T;
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [logSafe(k), logSafe(v)])) as T;
  }
  return value;
}
