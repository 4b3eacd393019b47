import type { Clock } from '../shared/clock.ts';
import { Conflict } from '../shared/errors.ts';
import type { ReplayCache } from '../tokens/replay-cache.ts';
import type { Db } from './prisma-client.ts';
import { translateErrors } from './prisma-errors.ts';
import type { Gate } from './sqlite-gate.ts';

/** Expired entries are deleted every this many uses, keeping the table near the live set. */
const PRUNE_EVERY = 500;

/** The database's primary key decides the first use, across instances and concurrent requests. */
export function createPrismaReplayCache(db: Db, gate: Gate, clock: Clock): ReplayCache {
  let uses = 0;
  return {
    useOnce: (key, expiresAt) => gate.run(async () => {
      if (++uses % PRUNE_EVERY === 0) {
        await translateErrors(() => db.replayEntry.deleteMany({ where: { expiresAt: { lt: clock.now() } } }));
      }
      try {
        await translateErrors(() => db.replayEntry.create({ data: { key, expiresAt } }));
        return true;
      } catch (error) {
        if (!(error instanceof Conflict)) throw error;
      }
      // A leftover of an expired use may be reclaimed; a live one is a replay.
      const reclaimed = await translateErrors(() => db.replayEntry.updateMany({ where: { key, expiresAt: { lt: clock.now() } }, data: { expiresAt } }));
      return reclaimed.count === 1;
    }),
  };
}
