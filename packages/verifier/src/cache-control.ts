/**
 * How long a response may be used (RFC 9111 §4.2.1): max-age minus Age; no-store and no-cache
 * mean "revalidate every time", read as zero. Undefined when the response says nothing.
 */
export function freshnessSeconds(cacheControl: string | null, age: string | null): number | undefined {
  if (!cacheControl) return undefined;
  const directives = cacheControl.toLowerCase().split(',').map((d) => d.trim());
  if (directives.some((d) => d === 'no-store' || d === 'no-cache')) return 0;
  const maxAge = directives.map((d) => /^max-age="?(\d+)"?$/.exec(d)).find(Boolean);
  if (!maxAge) return undefined;
  const ageSeconds = age !== null && /^\d+$/.test(age.trim()) ? Number(age.trim()) : 0;
  return Math.max(0, Number(maxAge[1]) - ageSeconds);
}
