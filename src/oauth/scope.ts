/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
export const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** Splits a scope parameter on single spaces; undefined when it breaks the §3.3 grammar. */
export function parseScope(value: string): string[] | undefined {
  const tokens = value.split(' ');
  return tokens.every((t) => SCOPE_TOKEN.test(t)) ? [...new Set(tokens)] : undefined;
}
