/** One party that acted on the subject's behalf (RFC 8693 §4.1): its sub and whatever else it carries. */
export type Actor = { sub: string; [claim: string]: unknown };

/**
 * The `act` claim as a list, current actor first (RFC 8693 §4.1: nested acts are prior actors, the
 * outermost one is the party now acting). Undefined when the token has no act; throws on a chain
 * that is not objects with a string sub, or is deeper than `maxDepth`.
 */
export function actorChain(act: unknown, maxDepth: number): Actor[] {
  const chain: Actor[] = [];
  for (let current = act; current !== undefined; ) {
    if (chain.length >= maxDepth) throw new Error(`the act chain is deeper than ${maxDepth}`);
    if (typeof current !== 'object' || current === null || Array.isArray(current)) throw new Error('an act member is not an object');
    const { act: prior, ...actor } = current as Record<string, unknown>;
    if (typeof actor.sub !== 'string' || actor.sub === '') throw new Error('an actor has no sub');
    chain.push(actor as Actor);
    current = prior;
  }
  return chain;
}
