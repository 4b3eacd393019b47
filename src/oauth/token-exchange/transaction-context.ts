import { InvalidRequest } from '../errors.ts';
import { nestingExceeds } from './json-nesting.ts';

/** Bounds of request_context / request_details: enough for a transaction's facts, not a document. */
const MAX_CONTEXT_BYTES = 4096;
const MAX_CONTEXT_NESTING = 8;

export type ContextObject = Record<string, unknown>;

/**
 * A Txn-Token request's request_context or request_details parameter (draft section "Txn-Token
 * Request"): a JSON object, bounded in size and nesting before it is parsed.
 */
export function parseContextParameter(name: string, text: string | undefined): ContextObject | undefined {
  if (text === undefined) return undefined;
  if (Buffer.byteLength(text) > MAX_CONTEXT_BYTES) throw new InvalidRequest(`${name} is larger than ${MAX_CONTEXT_BYTES} bytes`, { reason: 'context_invalid' });
  if (nestingExceeds(text, MAX_CONTEXT_NESTING)) throw new InvalidRequest(`${name} is nested more than ${MAX_CONTEXT_NESTING} levels deep`, { reason: 'context_invalid' });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidRequest(`${name} must be a JSON object`, { reason: 'context_invalid' });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidRequest(`${name} must be a JSON object`, { reason: 'context_invalid' });
  return value as ContextObject;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * A replacement Txn-Token's context (draft, "Txn-Token as a subject_token"): what the transaction
 * asserted stays as it was; a request may add members, never change or drop one.
 */
export function extendContext(name: string, current: unknown, additions: ContextObject | undefined): ContextObject | undefined {
  const base = current !== null && typeof current === 'object' && !Array.isArray(current) ? current as ContextObject : undefined;
  if (!additions) return base;
  for (const [key, value] of Object.entries(additions)) {
    if (base && Object.hasOwn(base, key) && !same(base[key], value)) {
      throw new InvalidRequest(`${name} must not change ${key.slice(0, 40)}: a transaction's context is immutable`, { reason: 'context_changed' });
    }
  }
  return { ...base, ...additions };
}
