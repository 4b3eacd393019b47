import type { Clock } from '../../src/shared/clock.ts';

/** A clock that follows real time plus an offset the test can advance. */
export function createTestClock(): Clock & { advance(seconds: number): void } {
  let offsetMs = 0;
  return {
    now: () => new Date(Date.now() + offsetMs),
    advance(seconds) {
      offsetMs += seconds * 1000;
    },
  };
}
