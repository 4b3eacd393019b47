import type { AuditEntry } from './audit-service.ts';

/**
 * Floods of identical refusals, stored a few times plus a count. The first `storeFirst` refusals of
 * a (client, address, reason) in a window are stored as usual (an ordinary failure is exactly one
 * event of its own); the identical ones after them within the window are only counted, and when the
 * window ends one more `token.denied` event carries their number (`details.aggregated`) and the
 * times of the first and last. Issuances never pass through here.
 * The map is bounded: past `capacity` distinct keys in one window, refusals are stored one by one
 * (the per-address rate limit then bounds them).
 */
export type DenialAggregator = {
  /** True when this refusal must be stored now; false when it was counted into its window. */
  admit(key: DenialKey, entry: AuditEntry): boolean;
  /** Writes the counts of every window that has ended (all of them with `all`, at shutdown). */
  sweep(all?: boolean): Promise<void>;
  size(): number;
};

export type DenialKey = { clientId: string | undefined; sourceAddress: string | undefined; reason: string };

type Window = { opened: number; seen: number; count: number; first: Date | undefined; last: Date | undefined; entry: AuditEntry; sourceAddress: string | undefined };

export function createDenialAggregator(deps: {
  windowMs: number;
  /** Identical refusals stored one by one in each window before the rest are counted (default 10). */
  storeFirst?: number;
  capacity?: number;
  now(): Date;
  /** Stores one summary event (as audit.record would, with the address of the refused requests). */
  store(entry: AuditEntry, sourceAddress: string | undefined): Promise<void>;
  onError(error: unknown): void;
}): DenialAggregator {
  const capacity = deps.capacity ?? 10_000;
  const storeFirst = deps.storeFirst ?? 10;
  const windows = new Map<string, Window>();
  return {
    admit(key, entry) {
      const at = deps.now();
      const id = `${key.clientId ?? ''}\u0000${key.sourceAddress ?? ''}\u0000${key.reason}`;
      const open = windows.get(id);
      if (open && at.getTime() - open.opened < deps.windowMs) {
        if (++open.seen <= storeFirst) return true;
        open.count++;
        open.first ??= at;
        open.last = at;
        return false;
      }
      if (!open && windows.size >= capacity) return true;
      // A window that ended but was not swept yet is written out by the next sweep under a new key.
      if (open && open.count > 0) windows.set(`${id}\u0000${open.opened}`, open);
      windows.set(id, { opened: at.getTime(), seen: 1, count: 0, first: undefined, last: undefined, entry, sourceAddress: key.sourceAddress });
      return true;
    },
    async sweep(all = false) {
      const now = deps.now().getTime();
      const ended = [...windows].filter(([, w]) => all || now - w.opened >= deps.windowMs);
      for (const [id] of ended) windows.delete(id);
      for (const [, w] of ended) {
        if (w.count === 0) continue;
        const details = { ...w.entry.details, aggregated: w.count, first_at: w.first!.toISOString(), last_at: w.last!.toISOString(), window_seconds: deps.windowMs / 1000 };
        await deps.store({ ...w.entry, details }, w.sourceAddress).catch(deps.onError);
      }
    },
    size: () => windows.size,
  };
}
