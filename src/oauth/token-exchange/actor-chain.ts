import type { ActorClaim } from '../grants/grant-handler.ts';

export type ActorChainReading = { chain: ActorClaim | undefined } | { problem: 'malformed' | 'too_deep' };

/**
 * An act claim read from a verified token (RFC 8693 §4.1): an object with a string sub, optionally
 * iss, and optionally a nested act. Only sub and iss are kept: an earlier actor's other members are
 * informational (§4.1) and would only let a chain grow. Reading stops past maxDepth actors.
 */
export function readActorChain(value: unknown, maxDepth: number): ActorChainReading {
  if (value === undefined) return { chain: undefined };
  let depth = 0;
  const read = (v: unknown): ActorClaim | 'malformed' | 'too_deep' => {
    if (++depth > maxDepth) return 'too_deep';
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'malformed';
    const { sub, iss, act } = v as Record<string, unknown>;
    if (typeof sub !== 'string' || sub === '' || (iss !== undefined && typeof iss !== 'string')) return 'malformed';
    const nested = act === undefined ? undefined : read(act);
    if (typeof nested === 'string') return nested;
    return { sub, ...(iss !== undefined && { iss: iss as string }), ...(nested && { act: nested }) };
  };
  const chain = read(value);
  return typeof chain === 'string' ? { problem: chain } : { chain };
}

/** How many actors a chain names. */
export function chainLength(chain: ActorClaim | undefined): number {
  let n = 0;
  for (let a = chain; a; a = a.act) n++;
  return n;
}

/** The chain as a list, the most recent actor first (for the audit record). */
export function chainSubjects(chain: ActorClaim | undefined): string[] {
  const subjects: string[] = [];
  for (let a = chain; a; a = a.act) subjects.push(a.sub);
  return subjects;
}
