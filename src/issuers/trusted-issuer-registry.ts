import type { ChangeListener } from '../changes/change-feed.ts';
import type { TrustedIssuer } from './trusted-issuer.ts';

export type TrustedIssuerRegistryOptions = {
  /** Every registered issuer (a few, at most some hundreds: they all fit). */
  loadAll(): Promise<TrustedIssuer[]>;
  /** One issuer by its exact `iss`, for lookups while the change feed is down. */
  loadOne(issuer: string): Promise<TrustedIssuer | undefined>;
  onError?: (error: unknown) => void;
};

/** What a record says, timestamps included: an unchanged record keeps its object (and its jose key set). */
const fingerprint = (t: TrustedIssuer) => JSON.stringify(t);

/**
 * The trusted issuers, held in memory by `iss`: the token-exchange path reads them on every
 * request. Correctness before speed, as in the client directory:
 * - a change committed on this instance reaches the registry before the admin call returns, and
 *   other instances over the change feed; after a change, lookups wait for the reload that follows
 *   it, so no lookup is answered from what the change made stale;
 * - a change that arrives while a load runs triggers one more load;
 * - while the feed is not live, every lookup reads the database;
 * - a failed load fails the lookups that wait for it (the caller answers 503): nothing stale is served.
 * An unchanged record keeps its object across reloads, so keys built from it are not rebuilt.
 */
export function createTrustedIssuerRegistry(opts: TrustedIssuerRegistryOptions) {
  let byIssuer: Map<string, TrustedIssuer> | undefined;
  /** Bumped by every change; the map is current when it was loaded after the latest bump. */
  let generation = 0;
  let loadedGeneration = -1;
  let loading: Promise<void> | undefined;
  let caching = true;
  const stats = { loads: 0, databaseLookups: 0 };

  function install(records: TrustedIssuer[]): void {
    const previous = byIssuer;
    const next = new Map<string, TrustedIssuer>();
    for (const record of records) {
      const kept = previous?.get(record.issuer);
      next.set(record.issuer, kept && fingerprint(kept) === fingerprint(record) ? kept : record);
    }
    byIssuer = next;
  }

  /** Loads until what was loaded postdates every change seen; concurrent callers share the load. */
  function fresh(): Promise<void> {
    if (byIssuer && loadedGeneration === generation) return Promise.resolve();
    loading ??= (async () => {
      try {
        while (!byIssuer || loadedGeneration !== generation) {
          const started = generation;
          const records = await opts.loadAll();
          stats.loads += 1;
          install(records);
          loadedGeneration = started;
        }
      } finally {
        loading = undefined;
      }
    })();
    return loading;
  }

  function changed(): void {
    generation += 1;
    void fresh().catch((error: unknown) => opts.onError?.(error));
  }

  return {
    /** The registration for this exact `iss` (disabled ones included), or undefined. */
    async find(issuer: string): Promise<TrustedIssuer | undefined> {
      if (!caching) {
        stats.databaseLookups += 1;
        return opts.loadOne(issuer);
      }
      await fresh();
      return byIssuer!.get(issuer);
    },

    /** Loads every issuer (start-up). */
    warm: (): Promise<void> => fresh().catch((error: unknown) => opts.onError?.(error)),

    /**
     * The safety net for a notification lost in transit: a full reload that replaces the map only
     * if no change arrived meanwhile, and leaves it as it was if the database cannot be read.
     */
    async refresh(): Promise<void> {
      if (!caching || loading) return;
      const started = generation;
      try {
        const records = await opts.loadAll();
        stats.loads += 1;
        if (started === generation && !loading) {
          install(records);
          loadedGeneration = started;
        }
      } catch (error) {
        opts.onError?.(error);
      }
    },

    /** Subscribes the registry to a change feed. */
    listener(): ChangeListener {
      return {
        changed: (change) => {
          if (change.kind === 'issuers') changed();
        },
        reset: (live) => {
          caching = live;
          changed();
        },
      };
    },

    /** Counters, for tests and metrics. */
    stats: () => ({ ...stats, size: byIssuer?.size ?? 0, caching, current: byIssuer !== undefined && loadedGeneration === generation }),
  };
}

export type TrustedIssuerRegistry = ReturnType<typeof createTrustedIssuerRegistry>;
