import type { Logger } from '../shared/logger.ts';
import type { KeyService } from './key-service.ts';

/**
 * Every instance runs one: each KEY_SYNC_INTERVAL it reloads the key set (so a rotation or
 * revocation made by another instance is signing and published here within that bound), rotates
 * when the schedule says so (the database lets exactly one instance win), and lets retired keys
 * leave the JWKS when their tokens have expired.
 */
export function startKeyRotationScheduler(keys: Pick<KeyService, 'tick'>, intervalSeconds: number, logger: Logger) {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return; // a slow database must not stack ticks
    running = keys.tick().then(
      (outcome) => {
        if (outcome === 'rotated') logger.info('signing key rotated on schedule');
      },
      (error: unknown) => logger.warn({ err: error }, 'key lifecycle tick failed; retrying at the next interval'),
    ).finally(() => {
      running = undefined;
    });
  }, intervalSeconds * 1000);
  timer.unref();
  return {
    async stop(): Promise<void> {
      clearInterval(timer);
      await running;
    },
  };
}
