import type { AccessTokenRejected, AuthScheme } from './errors.js';

/**
 * RFC 6750 §3: error_description and scope are quoted strings restricted to %x20-21 / %x23-5B /
 * %x5D-7E, so nothing needs escaping and nothing a caller sent can break out of the quotes.
 */
const QUOTABLE = /[^\x20\x21\x23-\x5b\x5d-\x7e]/g;
const quoted = (value: string) => `"${value.replace(QUOTABLE, '?')}"`;

export type ChallengeOptions = {
  realm?: string | undefined;
  /** The schemes the route accepts; DPoP only when DPoP-bound tokens are accepted. */
  schemes: readonly AuthScheme[];
  /** RFC 9449 §7.1 `algs`: the proof algorithms accepted. */
  dpopAlgorithms: readonly string[];
};

/** One challenge per scheme: the caller's scheme only when it used one, else every accepted scheme. */
export function wwwAuthenticate(rejection: AccessTokenRejected, options: ChallengeOptions): string[] {
  const schemes = rejection.scheme ? [rejection.scheme] : options.schemes;
  return schemes.map((scheme) => {
    const params: string[] = [];
    if (options.realm !== undefined) params.push(`realm=${quoted(options.realm)}`);
    if (scheme === 'DPoP') params.push(`algs=${quoted(options.dpopAlgorithms.join(' '))}`);
    if (rejection.code !== undefined) {
      params.push(`error=${quoted(rejection.code)}`, `error_description=${quoted(rejection.description)}`);
    }
    if (rejection.requiredScopes?.length) params.push(`scope=${quoted(rejection.requiredScopes.join(' '))}`);
    return params.length ? `${scheme} ${params.join(', ')}` : scheme;
  });
}
