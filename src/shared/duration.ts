const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "900", "900s", "15m", "1h", "30d" → seconds; undefined when not a duration. */
export function parseDurationSeconds(text: string): number | undefined {
  const match = /^(\d{1,9})([smhd]?)$/.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * UNIT_SECONDS[match[2] || 's']!;
}

const UNIT_MILLIS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

/** "250ms", "2s", "2" (seconds), "1m" → milliseconds; undefined when not a duration. For timeouts below a second. */
export function parseDurationMillis(text: string): number | undefined {
  const match = /^(\d{1,9})(ms|s|m)?$/.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * UNIT_MILLIS[match[2] || 's']!;
}
