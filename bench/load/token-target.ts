import type { SigningAlg } from '../options.ts';

/** What a verifier of this server's tokens checks (RFC 9068 §4). */
export type TokenCheck = { jwksUrl: string; issuer: string; audience: string; alg: SigningAlg };

/** One server's token endpoint as the load driver calls it. */
export type TokenTarget = {
  tokenUrl: string;
  headers: Record<string, string>;
  /** The form body: the same each time, or a new one per request (a fresh client assertion). */
  body: string | (() => string);
  check: TokenCheck;
  /** The server process whose tree's RSS is sampled. */
  pid: number;
};

export const FORM_CONTENT_TYPE = { 'content-type': 'application/x-www-form-urlencoded' };
