/**
 * RFC 8707 §2: a resource indicator is an absolute URI without a fragment. Audiences registered
 * for clients follow the same rule, so both parameters are checked alike.
 */
export function isAbsoluteUriWithoutFragment(value: string): boolean {
  if (value.length > 2048 || !/^[\x21-\x7e]+$/.test(value) || value.includes('#')) return false;
  try {
    const url = new URL(value);
    return /^[a-z][a-z0-9+.-]*:$/.test(url.protocol);
  } catch {
    return false;
  }
}
