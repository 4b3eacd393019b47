import { randomInt } from 'node:crypto';

export type TokenSampler = {
  /** Offers one successful response body. */
  offer(body: string): void;
  samples(): string[];
};

/**
 * Keeps every `every`-th body, plus `reservoir` bodies chosen uniformly over the whole run
 * (Algorithm R), so even a short run has enough samples and a long one samples its whole length.
 */
export function createTokenSampler({ every = 1000, reservoir = 20 }: { every?: number; reservoir?: number } = {}): TokenSampler {
  const periodic: string[] = [];
  const uniform: string[] = [];
  let seen = 0;
  return {
    offer(body) {
      seen++;
      if (seen % every === 0) {
        periodic.push(body);
        return;
      }
      if (uniform.length < reservoir) uniform.push(body);
      else {
        const slot = randomInt(seen);
        if (slot < reservoir) uniform[slot] = body;
      }
    },
    samples: () => [...periodic, ...uniform],
  };
}
