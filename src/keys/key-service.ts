import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import type { AuditService } from '../audit/audit-service.ts';
import type { RequestContext } from '../audit/audit-event.ts';
import type { SigningAlg } from '../config/config-schema.ts';
import type { Clock } from '../shared/clock.ts';
import { Conflict } from '../shared/errors.ts';
import { randomToken } from '../shared/ids.ts';
import type { UnitOfWork } from '../shared/unit-of-work.ts';
import { buildJwksDocument, publicOnly, type JwksDocument } from './jwks-document.ts';
import type { KeySealer } from './key-encryption.ts';
import { keyInfo, PUBLISHED_STATES, type SigningKeyInfo, type SigningKeyRecord } from './signing-key.ts';

export type ActiveSigningKey = { kid: string; alg: SigningAlg; privateKey: KeyObject };

/** The in-memory view of the key set, swapped whole when the set changes. */
type KeySet = {
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
  config: { signingAlg: SigningAlg };
};

const SYSTEM_CONTEXT: RequestContext = { requestId: 'startup', sourceAddress: undefined };

/** A kid that is never reused: creation date for operators, 96 random bits for uniqueness. */
function newKid(now: Date): string {
  return `${now.toISOString().slice(0, 10).replaceAll('-', '')}-${randomToken(12)}`;
}

async function generateSigningKey(alg: SigningAlg, sealer: KeySealer, now: Date, state: SigningKeyRecord['state']): Promise<SigningKeyRecord> {
  const kid = newKid(now);
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' && { crv: 'Ed25519' }) });
  const publicJwk = { ...publicOnly(await exportJWK(publicKey)), kid, use: 'sig', alg };
  const privateJwk = await exportJWK(privateKey);
  return {
    kid,
    alg,
    state,
    publicJwk,
    encryptedPrivateJwk: sealer.seal(JSON.stringify(privateJwk), kid),
    createdAt: now,
    activatedAt: state === 'active' ? now : null,
    retiredAt: null,
    expiresAt: null,
    revokedAt: null,
  };
}

export function createKeyService(deps: KeyServiceDeps) {
  const { uow, sealer, audit, clock, config } = deps;
  let current: KeySet | undefined;

  function buildKeySet(records: SigningKeyRecord[]): KeySet {
    const activeRecord = records.find((r) => r.state === 'active');
    const verificationKeys = new Map(
      records.filter((r) => PUBLISHED_STATES.has(r.state)).map((r) => [r.kid, { alg: r.alg, key: createPublicKey({ key: r.publicJwk as never, format: 'jwk' }) }]),
    );
    const active = activeRecord && {
      kid: activeRecord.kid,
      alg: activeRecord.alg,
      privateKey: createPrivateKey({ key: JSON.parse(sealer.open(activeRecord.encryptedPrivateJwk, activeRecord.kid)), format: 'jwk' }),
    };
    return { active, jwks: buildJwksDocument(records), verificationKeys, records };
  }

  async function reload(): Promise<void> {
    current = buildKeySet(await uow.stores.keys.listAll());
  }

  function keySet(): KeySet {
    if (!current) throw new Error('key service used before load()');
    return current;
  }

  return {
    /**
     * Loads the key set and, on an empty database, creates the first active key. Several instances
     * starting at once race on the database's one-active-key constraint; the losers adopt the winner's key.
     */
    async load(): Promise<void> {
      await reload();
      if (keySet().active) return;
      const key = await generateSigningKey(config.signingAlg, sealer, clock.now(), 'active');
      try {
        await uow.transaction(async (stores) => {
          await stores.keys.insert(key);
          const entry = { outcome: 'success', kid: key.kid, details: { alg: key.alg } } as const;
          await audit.record(stores.audit, SYSTEM_CONTEXT, { ...entry, type: 'key.created' });
          await audit.record(stores.audit, SYSTEM_CONTEXT, { ...entry, type: 'key.activated' });
        });
      } catch (error) {
        if (!(error instanceof Conflict)) throw error;
      }
      await reload();
    },

    /** The key that signs now; undefined only before load() has found or made one. */
    activeSigningKey: (): ActiveSigningKey | undefined => current?.active,

    jwks: (): JwksDocument => keySet().jwks,

    /** Public key for a published kid, used to check this service's own tokens (admin API). */
    verificationKey: (kid: string) => keySet().verificationKeys.get(kid),

    list: (): SigningKeyInfo[] => keySet().records.map(keyInfo),
  };
}

export type KeyService = ReturnType<typeof createKeyService>;
