/**
 * The deepest nesting of objects and arrays in a JSON text, stopping as soon as `limit` is passed:
 * a linear scan that needs no parse, so a token built to be deep (an `act` inside an `act` a
 * thousand times) is refused before anything builds it. Strings are skipped, escapes included.
 */
export function nestingExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** The payload segment of a compact JWS, decoded, or undefined when it is not one. */
export function jwsPayloadText(token: string): string | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !/^[A-Za-z0-9_-]+$/.test(parts[1]!)) return undefined;
  return Buffer.from(parts[1]!, 'base64url').toString('utf8');
}
