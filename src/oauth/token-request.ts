import type { RequestContext } from '../audit/audit-event.ts';

/** A token request as the protocol core sees it: no Express, only what the caller sent. */
export type TokenRequest = {
  /** Every body parameter with every value it was given (duplicates kept for rejectDuplicates). */
  params: ReadonlyMap<string, readonly string[]>;
  /** The raw Authorization header, if any. */
  authorization: string | undefined;
  context: RequestContext;
};

/** The single value of a parameter; call only after rejectDuplicates. */
export function param(req: TokenRequest, name: string): string | undefined {
  return req.params.get(name)?.[0];
}

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
