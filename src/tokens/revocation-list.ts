import type { Change, ChangeListener } from '../changes/change-feed.ts';
import { epochSeconds } from '../shared/clock.ts';
import type { ClientTokenCutoff, TokenRevocation } from './revocation-repository.ts';

export type RevocationListOptions = {
  /** Every revocation in force, read from the database (start-up, after a feed reset, periodically). */
  load(): Promise<{ tokens: TokenRevocation[]; clients: ClientTokenCutoff[] }>;
  /** Epoch milliseconds (the service clock). */
  now(): number;
  onError?(error: unknown): void;
};

/** The claims a revocation check reads; a token's other claims do not matter here. */
export type RevocableClaims = { jti?: unknown; client_id?: unknown; iat?: unknown };

/**
 * Revocations (RFC 7009) held in memory, so checking a token costs two map lookups and no read.
 *
 * Revocation only ever adds: nothing is un-revoked before it expires. So this view never needs to
 * be dropped, only completed: a change arriving over the feed is added as it comes (it carries the
 * whole revocation); a feed reset, or the periodic refresh, merges what the database holds; and an
 * entry leaves once the tokens it covers have all expired (they are refused as expired anyway).
 * A change committed on this instance is applied before the call that made it returns.
 */
export function createRevocationList(opts: RevocationListOptions) {
  /** jti → exp (epoch seconds). */
  const tokens = new Map<string, number>();
  /** client_id → its cut-off: tokens with iat below `issuedBefore` (epoch seconds) are revoked. */
  const clients = new Map<string, { issuedBefore: number; expiresAt: number }>();
  let loading: Promise<void> | undefined;

  function addToken(jti: string, expiresAt: number): void {
    const held = tokens.get(jti);
    if (held === undefined || held < expiresAt) tokens.set(jti, expiresAt);
  }

  function addClient(clientId: string, issuedBefore: number, expiresAt: number): void {
    const held = clients.get(clientId);
    clients.set(clientId, {
      issuedBefore: Math.max(held?.issuedBefore ?? 0, issuedBefore),
      expiresAt: Math.max(held?.expiresAt ?? 0, expiresAt),
    });
  }

  /** Merges what the database holds; concurrent callers share one read. */
  function load(): Promise<void> {
    loading ??= (async () => {
      const stored = await opts.load();
      for (const t of stored.tokens) addToken(t.jti, epochSeconds(t.expiresAt));
      for (const c of stored.clients) addClient(c.clientId, Math.ceil(c.issuedBefore.getTime() / 1000), epochSeconds(c.expiresAt));
    })().finally(() => {
      loading = undefined;
    });
    return loading;
  }

  /** Drops entries whose tokens have all expired. */
  function forgetExpired(): void {
    const now = Math.floor(opts.now() / 1000);
    for (const [jti, exp] of tokens) if (exp < now) tokens.delete(jti);
    for (const [id, c] of clients) if (c.expiresAt < now) clients.delete(id);
  }

  return {
    /** Whether a token (already verified: these claims are ours) has been revoked. */
    isRevoked(claims: RevocableClaims): boolean {
      if (typeof claims.jti === 'string' && tokens.has(claims.jti)) return true;
      const cutoff = typeof claims.client_id === 'string' ? clients.get(claims.client_id) : undefined;
      return cutoff !== undefined && typeof claims.iat === 'number' && claims.iat < cutoff.issuedBefore;
    },

    /** Start-up: fails when the database cannot be read (an instance must not serve without its revocations). */
    load,

    /** The periodic safety net: forget what expired, merge what the database holds (a change lost in transit). */
    async refresh(): Promise<void> {
      forgetExpired();
      await load().catch((error: unknown) => opts.onError?.(error));
    },

    /** Subscribes the list to a change feed. */
    listener(): ChangeListener {
      return {
        changed: (change: Change) => {
          if (change.kind === 'token_revoked') addToken(change.jti, change.expiresAt);
          else if (change.kind === 'client_tokens_revoked') addClient(change.clientId, change.issuedBefore, change.expiresAt);
        },
        // Changes may have been missed: read them back (nothing held is wrong, only possibly incomplete).
        reset: () => void load().catch((error: unknown) => opts.onError?.(error)),
      };
    },

    stats: () => ({ tokens: tokens.size, clients: clients.size }),
  };
}

export type RevocationList = ReturnType<typeof createRevocationList>;
