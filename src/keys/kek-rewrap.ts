import type { RequestContext } from '../audit/audit-event.ts';
import type { AuditService } from '../audit/audit-service.ts';
import { hashKeyId, labelLegacyHash, LEGACY_HASH_PREFIX } from '../clients/client-secret.ts';
import type { Clock } from '../shared/clock.ts';
import type { UnitOfWork } from '../shared/unit-of-work.ts';
import type { KeySealer } from './key-encryption.ts';

/** What one key-encryption key still protects. */
export type KekUse = {
  kekId: string;
  /** current: KEY_ENCRYPTION_KEY; previous: in KEY_ENCRYPTION_KEYS_PREVIOUS; missing: named by stored data, not configured. */
  role: 'current' | 'previous' | 'missing';
  /** kids of the signing keys whose private key it seals. */
  signingKeys: string[];
  /** Client secret hashes keyed from it that still authenticate (current, or in a rotation's grace period). */
  secretHashes: number;
};

export type KekReport = {
  current: string;
  /** One entry per configured key (current first) and per missing key that stored data names. */
  keys: KekUse[];
  /** v1 secret hashes, which name no key: checked against every configured key, re-hashed at next use. */
  legacySecretHashes: number;
  /**
   * Hashes of secrets whose grace period has ended: they no longer authenticate, so they hold no
   * key back (the next rotation of their client removes them).
   */
  expiredSecretHashes: number;
  /** Sealed private keys that no configured key opens and that name none (v1). */
  unopenableSigningKeys: string[];
};

export type KekRewrapResult = {
  rewrapped: Array<{ kid: string; from: string }>;
  /** v1 secret hashes labelled with the current key's id (only while no previous key is configured). */
  labelledSecretHashes: number;
  report: KekReport;
};

export type KekDeps = { uow: UnitOfWork; sealer: KeySealer; clock: Clock };

/** Which key-encryption key every sealed private key and every secret hash depends on. */
export async function reportKeyEncryptionKeyUse(deps: KekDeps): Promise<KekReport> {
  const { ring } = deps.sealer;
  const uses = new Map<string, KekUse>(ring.all.map((k) => [k.id, { kekId: k.id, role: k === ring.current ? 'current' : 'previous', signingKeys: [], secretHashes: 0 }]));
  const use = (kekId: string) => {
    if (!uses.has(kekId)) uses.set(kekId, { kekId, role: 'missing', signingKeys: [], secretHashes: 0 });
    return uses.get(kekId)!;
  };
  const unopenableSigningKeys: string[] = [];
  for (const key of await deps.uow.stores.keys.listAll()) {
    // Retired and revoked keys had their private key erased: they depend on nothing.
    if (!key.encryptedPrivateJwk) continue;
    const kekId = deps.sealer.sealedBy(key.encryptedPrivateJwk, key.kid);
    if (kekId) use(kekId).signingKeys.push(key.kid);
    else unopenableSigningKeys.push(key.kid);
  }
  let legacySecretHashes = 0;
  let expiredSecretHashes = 0;
  const now = deps.clock.now();
  for (const { hash, expiresAt } of await deps.uow.stores.clients.listSecretHashes()) {
    if (expiresAt !== null && expiresAt <= now) {
      expiredSecretHashes++;
      continue;
    }
    const kekId = hashKeyId(hash);
    if (kekId === 'legacy') legacySecretHashes++;
    else if (kekId) use(kekId).secretHashes++;
  }
  return { current: ring.current.id, keys: [...uses.values()], legacySecretHashes, expiredSecretHashes, unopenableSigningKeys };
}

/**
 * Re-seals every stored private key that is not sealed under the current key-encryption key
 * (KEY_ENCRYPTION_KEY), each in one transaction with its `key.rewrapped` audit event, labels v1
 * secret hashes when only one key is configured (labelLegacySecretHashes), then reports
 * what still depends on each key. Client secret hashes cannot be re-wrapped (only their MAC is
 * stored): they move to the current key at their next successful use, or when the secret is
 * rotated; the report counts those left. Safe beside running instances: a key changed meanwhile
 * (wiped by a rotation, re-wrapped by another run) is left as it is, and the in-memory key set of
 * every instance is unaffected.
 */
export async function rewrapSigningKeys(deps: KekDeps & { audit: AuditService }, ctx: RequestContext): Promise<KekRewrapResult> {
  const { sealer, uow, audit } = deps;
  const rewrapped: KekRewrapResult['rewrapped'] = [];
  for (const key of await uow.stores.keys.listAll()) {
    if (!key.encryptedPrivateJwk || sealer.isCurrent(key.encryptedPrivateJwk)) continue;
    const from = sealer.sealedBy(key.encryptedPrivateJwk, key.kid);
    // Sealed by a key that is not configured: reported below, nothing to do here.
    if (!from) continue;
    const resealed = sealer.seal(sealer.open(key.encryptedPrivateJwk, key.kid), key.kid);
    const done = await uow.transaction(async (stores) => {
      if (!(await stores.keys.replaceSealedPrivateKey(key.kid, key.encryptedPrivateJwk, resealed))) return false;
      await audit.record(stores.audit, ctx, {
        type: 'key.rewrapped', outcome: 'success', kid: key.kid, details: { alg: key.alg, from_kek: from, to_kek: sealer.ring.current.id },
      });
      return true;
    });
    if (done) rewrapped.push({ kid: key.kid, from });
  }
  const labelledSecretHashes = await labelLegacySecretHashes(deps);
  return { rewrapped, labelledSecretHashes, report: await reportKeyEncryptionKeyUse(deps) };
}

/**
 * v1 secret hashes (made before hashes named their key) get the current key's id when it is the
 * only key configured: a v1 hash can then only ever have verified under that key, so the label
 * changes nothing but lets a later report attribute it. With previous keys configured they stay
 * v1 (checked against every key) until their next use re-hashes them. Part of `keys rewrap`, run
 * by the operator once every instance runs a version that reads v2 (never at start-up, which
 * would lock clients out of older instances during a rolling upgrade). Idempotent.
 */
export async function labelLegacySecretHashes(deps: KekDeps): Promise<number> {
  const { ring } = deps.sealer;
  if (ring.previous.length > 0) return 0;
  let labelled = 0;
  for (const s of await deps.uow.stores.clients.listSecretHashes(LEGACY_HASH_PREFIX)) {
    if (await deps.uow.stores.clients.replaceSecretHash(s.clientId, s.id, s.hash, labelLegacyHash(s.hash, ring.current.id))) labelled++;
  }
  return labelled;
}
