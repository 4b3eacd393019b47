import type { Request } from 'express';
import { InvalidRequest } from '../../oauth/errors.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const MAX_PARAMETERS = 100;

function malformed(description: string, reason: 'malformed_request' | 'unsupported_content_type' = 'malformed_request') {
  return new InvalidRequest(description, { reason });
}

/** application/x-www-form-urlencoded, strictly: bad %-escapes and invalid UTF-8 are refused, not repaired. */
function parseForm(text: string): Map<string, string[]> {
  const params = new Map<string, string[]>();
  if (text === '') return params;
  const pairs = text.split('&');
  if (pairs.length > MAX_PARAMETERS) throw malformed('too many parameters');
  for (const pair of pairs) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const decode = (s: string) => {
      try {
        return decodeURIComponent(s.replaceAll('+', ' '));
      } catch {
        throw malformed('the body is not correctly form-urlencoded');
      }
    };
    const name = decode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : decode(pair.slice(eq + 1));
    params.set(name, [...(params.get(name) ?? []), value]);
  }
  return params;
}

/** The contract's JSON alternative: an object whose values are strings (or arrays of them, for repeatable parameters). */
function parseJson(text: string, repeatable: ReadonlySet<string>): Map<string, string[]> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw malformed('the body is not valid JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw malformed('the JSON body must be an object');
  const entries = Object.entries(body);
  if (entries.length > MAX_PARAMETERS) throw malformed('too many parameters');
  const params = new Map<string, string[]>();
  for (const [name, value] of entries) {
    // RFC 6749 §3.2: only repeatable parameters may be lists; an array for any other, even of one element, is refused like a repeat.
    if (Array.isArray(value) && !repeatable.has(name)) throw malformed(`parameter ${name.slice(0, 40)} must be a single string`);
    const values = Array.isArray(value) ? value : [value];
    if (values.length === 0 || values.some((v) => typeof v !== 'string')) {
      throw malformed(`parameter ${name.slice(0, 40)} must be a string`);
    }
    params.set(name, values as string[]);
  }
  return params;
}

/**
 * The body of POST /token as parameter lists. It was read raw, so this is the only parser:
 * duplicates are kept for rejectDuplicates, nothing is coerced, and no prototype can be polluted.
 * Only the grants' repeatable parameters (RFC 8707 §2, RFC 8693 §2.1) may be JSON arrays.
 */
export function parseTokenRequestBody(req: Request, body: Buffer, repeatable: ReadonlySet<string>): Map<string, string[]> {
  if (Object.keys(req.query).length > 0 || req.originalUrl.includes('?')) {
    throw malformed('parameters must be sent in the request body, not in the URL');
  }
  const type = req.get('content-type');
  if (!type) throw malformed('the body must be application/x-www-form-urlencoded', 'unsupported_content_type');
  const [mediaType, ...parameters] = type.split(';').map((s) => s.trim().toLowerCase());
  const charset = parameters.find((p) => p.startsWith('charset='))?.slice('charset='.length).replace(/"/g, '');
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw malformed('only the UTF-8 charset is supported', 'unsupported_content_type');
  }
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw malformed('the body is not valid UTF-8');
  }
  if (mediaType === 'application/x-www-form-urlencoded') return parseForm(text);
  if (mediaType === 'application/json') return parseJson(text, repeatable);
  throw malformed('the body must be application/x-www-form-urlencoded or application/json', 'unsupported_content_type');
}
