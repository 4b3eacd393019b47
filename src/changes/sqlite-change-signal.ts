import type { Db } from '../persistence/prisma-client.ts';
import type { Gate } from '../persistence/sqlite-gate.ts';

const SETTING = 'changes.version';
const POLL_MS = 1_000;

/**
 * SQLite has no notification between processes, so a change made by another process on the same
 * file (the command line resetting a secret, another cluster worker) would reach this one's
 * in-memory views only by their TTL. Every committed change bumps a counter row; each process polls
 * it every second and, when it moved without us, drops what it holds (`onForeignChange`). A bump
 * that skips a number means another process changed something in between, which counts too.
 */
export function createSqliteChangeSignal(db: Db, gate: Gate, onForeignChange: () => void) {
  let seen: number | undefined;
  const read = async () => {
    const rows = await db.$queryRawUnsafe<Array<{ value: string }>>('SELECT value FROM "ServiceSetting" WHERE name = ?', SETTING);
    return Number(rows[0]?.value ?? 0);
  };
  const poll = () => {
    void gate.run(async () => {
      const now = await read();
      if (seen !== undefined && now !== seen) onForeignChange();
      seen = now;
    }).catch(() => undefined);
  };
  // The first reading is taken now, queued on the gate before the views' first loads: taken at the
  // first tick instead, it would already count changes committed elsewhere after those loads, and
  // they would never be noticed.
  poll();
  const timer = setInterval(poll, POLL_MS);
  timer.unref();
  return {
    /** Called after each commit of ours. */
    async announce(): Promise<void> {
      await gate.run(async () => {
        const rows = await db.$queryRawUnsafe<Array<{ value: string }>>(
          `INSERT INTO "ServiceSetting" (name, value, "updatedAt") VALUES (?, '1', ?)
           ON CONFLICT(name) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT), "updatedAt" = excluded."updatedAt"
           RETURNING value`,
          SETTING, new Date().toISOString().replace('Z', '+00:00'),
        );
        const now = Number(rows[0]?.value ?? 0);
        if (seen !== undefined && now !== seen + 1) onForeignChange();
        seen = now;
      });
    },
    close: () => clearInterval(timer),
  };
}
