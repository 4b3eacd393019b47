import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import type { RequestContext } from '../audit/audit-event.ts';
import type { ChangeListener } from '../changes/change-feed.ts';
import type { AuditService } from '../audit/audit-service.ts';
import type { SigningAlg } from '../config/config-schema.ts';
import type { Clock } from '../shared/clock.ts';
import { Conflict, NotFound } from '../shared/errors.ts';
import type { Stores, UnitOfWork } from '../shared/unit-of-work.ts';
import { generateSigningKey } from './generate-signing-key.ts';
import { buildJwksDocument, type JwksDocument } from './jwks-document.ts';
import type { KeySealer } from './key-encryption.ts';
import {
  findState,
  isPublished,
  MAX_PUBLISHED_KEYS,
  nextKeySignableAt,
  retirementExpiry,
  scheduledRotationDue,
  type LifecycleConfig,
} from './key-lifecycle.ts';
import { keyInfo, type SigningKeyInfo, type SigningKeyRecord } from './signing-key.ts';

export type ActiveSigningKey = { kid: string; alg: SigningAlg; privateKey: KeyObject };

/** The in-memory view of the key set, swapped whole when the set changes. */
type KeySet = {
  fingerprint: string;
  active: ActiveSigningKey | undefined;
  jwks: JwksDocument;
  verificationKeys: ReadonlyMap<string, { alg: SigningAlg; key: KeyObject }>;
  records: readonly SigningKeyRecord[];
};

export type KeyServiceDeps = {
  uow: UnitOfWork;
  sealer: KeySealer;
  audit: AuditService;
  clock: Clock;
  config: LifecycleConfig & { signingAlg: SigningAlg; jwksMaxAge: number };
};

export const SYSTEM_CONTEXT: RequestContext = { requestId: 'key-lifecycle', sourceAddress: undefined };

/** A concurrent rotation or revocation changed the key set first; nothing of ours was written. */
export class KeySetChanged extends Conflict {}

/** The lifecycle rules forbid this change now (next key too young, too many keys published). */
export class KeyChangeRefused extends Conflict {}

/**
 * Owns the signing keys: creation, scheduled and manual rotation, revocation, and the in-memory
 * key set every request reads (active private key, JWKS body, verification keys). Every change is
 * one database transaction with its audit events, guarded by the one-active/one-next constraints,
 * so concurrent instances produce exactly one outcome and a crash leaves the previous state.
 */
export function createKeyService(deps: KeyServiceDeps) {
  const { uow, sealer, audit, clock, config } = deps;
  let current: KeySet | undefined;
  let reloadsStarted = 0;
  let newestApplied = 0;

  function fingerprintOf(records: readonly SigningKeyRecord[], now: Date): string {
    return records.map((r) => `${r.kid}:${r.state}:${isPublished(r, now) ? 1 : 0}`).join(',');
  }

  function buildKeySet(records: SigningKeyRecord[], now: Date): KeySet {
    const published = records.filter((r) => isPublished(r, now)).slice(-MAX_PUBLISHED_KEYS);
    const activeRecord = findState(records, 'active');
    const lastRevocation = Math.max(0, ...records.map((r) => r.revokedAt?.getTime() ?? 0));
    const shortCacheUntil = lastRevocation ? new Date(lastRevocation + config.jwksMaxAge * 1000) : undefined;
    return {
      fingerprint: fingerprintOf(records, now),
      active: activeRecord && {
        kid: activeRecord.kid,
        alg: activeRecord.alg,
        privateKey: createPrivateKey({ key: JSON.parse(sealer.open(activeRecord.encryptedPrivateJwk, activeRecord.kid)), format: 'jwk' }),
      },
      jwks: buildJwksDocument(published, shortCacheUntil && shortCacheUntil > now ? shortCacheUntil : undefined),
      verificationKeys: new Map(published.map((r) => [r.kid, { alg: r.alg, key: createPublicKey({ key: r.publicJwk as never, format: 'jwk' }) }])),
      records,
    };
  }

  /**
   * Re-reads the key set; rebuilds the in-memory view only when something changed, including a
   * retired key reaching its expiry (the fingerprint records what is published now).
   */
  async function reload(): Promise<void> {
    const started = ++reloadsStarted;
    const now = clock.now();
    const records = await uow.stores.keys.listAll();
    // A slower reload that read before a later one (say, before a revocation committed) holds an
    // older key set; applying it would bring a revoked key back until the next tick.
    if (started < newestApplied) return;
    newestApplied = started;
    if (current && current.fingerprint === fingerprintOf(records, now)) return;
    current = buildKeySet(records, now);
  }

  function keySet(): KeySet {
    if (!current) throw new Error('key service used before load()');
    return current;
  }

  async function recordKeyEvent(stores: Stores, ctx: RequestContext, type: 'key.created' | 'key.activated' | 'key.retired' | 'key.revoked', key: SigningKeyRecord, details: Record<string, unknown> = {}) {
    await audit.record(stores.audit, ctx, { type, outcome: 'success', kid: key.kid, details: { alg: key.alg, ...details } });
  }

  async function createKey(stores: Stores, ctx: RequestContext, state: 'next' | 'active', now: Date): Promise<SigningKeyRecord> {
    const key = await generateSigningKey(config.signingAlg, sealer, now, state);
    await stores.keys.insert(key);
    await recordKeyEvent(stores, ctx, 'key.created', key, { state });
    if (state === 'active') await recordKeyEvent(stores, ctx, 'key.activated', key);
    return key;
  }

  /** Runs a key-set change; a lost race (Conflict from a guard or a slot) is reported as KeySetChanged. */
  async function change<T>(work: (stores: Stores, keys: SigningKeyRecord[], now: Date) => Promise<T>): Promise<T> {
    try {
      return await uow.transaction(async (stores) => work(stores, await stores.keys.listAll(), clock.now()));
    } catch (error) {
      if (error instanceof Conflict && !(error instanceof KeySetChanged) && !(error instanceof KeyChangeRefused)) throw new KeySetChanged('the key set changed concurrently; nothing was changed', { cause: error });
      throw error;
    } finally {
      await reload().catch(() => undefined);
    }
  }

  async function transitionOrFail(stores: Stores, ...args: Parameters<Stores['keys']['transition']>): Promise<void> {
    if (!(await stores.keys.transition(...args))) throw new KeySetChanged('the key set changed concurrently; nothing was changed');
  }

  /** Promotes next → active, retires the active key, pre-publishes a new next key. */
  async function promoteNext(stores: Stores, ctx: RequestContext, keys: SigningKeyRecord[], now: Date, retiring: SigningKeyRecord | undefined) {
    const next = findState(keys, 'next');
    if (!next) throw new KeySetChanged('there is no next key to promote');
    if (keys.filter((k) => isPublished(k, now)).length >= MAX_PUBLISHED_KEYS) {
      throw new KeyChangeRefused(`${MAX_PUBLISHED_KEYS} keys are published already; wait until retired keys expire`);
    }
    if (retiring) {
      await transitionOrFail(stores, retiring.kid, 'active', 'retired', { retiredAt: now, expiresAt: retirementExpiry(now, config), wipePrivateKey: true });
      await recordKeyEvent(stores, ctx, 'key.retired', retiring, { expires_at: retirementExpiry(now, config).toISOString() });
    }
    await transitionOrFail(stores, next.kid, 'next', 'active', { activatedAt: now });
    await recordKeyEvent(stores, ctx, 'key.activated', next);
    await createKey(stores, ctx, 'next', now);
  }

  /**
   * Brings the stored set to its invariant: one active key and one next key. At start-up
   * (`adoptSigningAlg`) a next key of another algorithm (SIGNING_ALG changed) is withdrawn unused
   * and replaced, so the change takes effect at the rotation after the new key's pre-publication.
   * Scheduler ticks leave it alone: during a rolling restart, instances still running the old
   * SIGNING_ALG would otherwise swap the next key back and forth, and it would never get old
   * enough to sign.
   */
  async function ensureKeySet(ctx: RequestContext, adoptSigningAlg: boolean): Promise<void> {
    const keys = current?.records ?? [];
    const next = findState(keys, 'next');
    if (findState(keys, 'active') && next && (!adoptSigningAlg || next.alg === config.signingAlg)) return;
    await change(async (stores, fresh, now) => {
      let nextKey = findState(fresh, 'next');
      if (adoptSigningAlg && nextKey && nextKey.alg !== config.signingAlg) {
        await transitionOrFail(stores, nextKey.kid, 'next', 'retired', { retiredAt: now, expiresAt: now, wipePrivateKey: true });
        await recordKeyEvent(stores, ctx, 'key.retired', nextKey, { reason: 'signing_alg_changed' });
        nextKey = undefined;
      }
      if (!findState(fresh, 'active')) {
        // promoteNext also pre-publishes the next key's successor.
        if (nextKey) return promoteNext(stores, ctx, fresh, now, undefined);
        await createKey(stores, ctx, 'active', now);
      }
      if (!nextKey) await createKey(stores, ctx, 'next', now);
    }).catch((error: unknown) => {
      // Another instance repaired the set at the same moment; its result has been loaded.
      if (!(error instanceof KeySetChanged)) throw error;
    });
  }

  /** One reload at a time; a change that arrives during one is picked up by one more after it. */
  let feedReload: Promise<void> | undefined;
  let feedDirty = false;
  function reloadFromFeed(): void {
    if (feedReload) {
      feedDirty = true;
      return;
    }
    feedReload = reload().catch(() => undefined).finally(() => {
      feedReload = undefined;
      if (feedDirty) {
        feedDirty = false;
        reloadFromFeed();
      }
    });
  }

  return {
    /**
     * Subscribes to the change feed: a rotation or revocation on another instance is loaded here
     * as soon as its notification arrives; KEY_SYNC_INTERVAL remains the bound when one is lost.
     */
    listener(): ChangeListener {
      return {
        changed: (change) => {
          if (change.kind === 'keys' && current) reloadFromFeed();
        },
        reset: () => {
          if (current) reloadFromFeed();
        },
      };
    },

    /** Loads the key set and repairs it (first start, a crash, a changed SIGNING_ALG). */
    async load(): Promise<void> {
      await reload();
      await ensureKeySet(SYSTEM_CONTEXT, true);
      if (!current?.active) throw new Error('no active signing key after start-up');
      // The next key signs at the coming rotation: a key-encryption key that cannot open it must
      // stop this start, not that rotation weeks later.
      for (const record of current.records) if (record.encryptedPrivateJwk) sealer.open(record.encryptedPrivateJwk, record.kid);
    },

    /**
     * One scheduler tick: picks up changes other instances made, rotates when the schedule says
     * so (exactly one instance wins), and refreshes the JWKS when a retired key expires.
     */
    async tick(): Promise<'rotated' | 'unchanged'> {
      await reload();
      await ensureKeySet(SYSTEM_CONTEXT, false);
      if (!scheduledRotationDue(keySet().records, clock.now(), config)) return 'unchanged';
      try {
        await change(async (stores, keys, now) => {
          if (!scheduledRotationDue(keys, now, config)) throw new KeySetChanged('already rotated');
          await promoteNext(stores, SYSTEM_CONTEXT, keys, now, findState(keys, 'active'));
        });
        return 'rotated';
      } catch (error) {
        if (error instanceof KeySetChanged) return 'unchanged';
        throw error;
      }
    },

    /**
     * Manual rotation (POST /admin/keys/rotate): only once the next key has been published for
     * KEY_PREPUBLISH, so no verifier can meet its kid before it could have fetched it. For a
     * compromised key, revoke() is the emergency path.
     */
    async rotate(ctx: RequestContext): Promise<SigningKeyInfo[]> {
      await change(async (stores, keys, now) => {
        const next = findState(keys, 'next');
        if (next && nextKeySignableAt(next, config) > now) {
          throw new KeyChangeRefused(`the next key ${next.kid} may sign from ${nextKeySignableAt(next, config).toISOString()} (KEY_PREPUBLISH after its publication); revoke the active key for an emergency rotation`);
        }
        await promoteNext(stores, ctx, keys, now, findState(keys, 'active'));
      });
      return keySet().records.map(keyInfo);
    },

    /**
     * Emergency revocation: the key leaves the JWKS and stops signing at once; if it was active
     * the pre-published next key takes over, and a new next key is created.
     */
    async revoke(kid: string, ctx: RequestContext): Promise<SigningKeyInfo> {
      await change(async (stores, keys, now) => {
        const key = keys.find((k) => k.kid === kid);
        if (!key) throw new NotFound(`no signing key ${JSON.stringify(kid)}`);
        if (key.state === 'revoked') return;
        await transitionOrFail(stores, key.kid, key.state, 'revoked', { revokedAt: now, wipePrivateKey: true });
        await recordKeyEvent(stores, ctx, 'key.revoked', key, { previous_state: key.state });
        // The revoked key has left the JWKS, so it does not count towards the cap: the cap must
        // never refuse an emergency.
        if (key.state === 'active') await promoteNext(stores, ctx, keys.filter((k) => k.kid !== key.kid), now, undefined);
        else if (key.state === 'next') await createKey(stores, ctx, 'next', now);
      });
      const revoked = keySet().records.find((k) => k.kid === kid);
      if (!revoked) throw new NotFound(`no signing key ${JSON.stringify(kid)}`);
      return keyInfo(revoked);
    },

    /** The key that signs now; undefined only before load(). */
    activeSigningKey: (): ActiveSigningKey | undefined => current?.active,

    jwks: (): JwksDocument => keySet().jwks,

    /** Public key for a published kid, used to check this service's own tokens (admin API). */
    verificationKey: (kid: string) => keySet().verificationKeys.get(kid),

    list: (): SigningKeyInfo[] => keySet().records.map(keyInfo),
  };
}

export type KeyService = ReturnType<typeof createKeyService>;
