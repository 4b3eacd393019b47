import type { SigningAlg } from '../config/config-schema.ts';
import type { KeyRepository } from '../keys/key-repository.ts';
import type { KeyState, SigningKeyRecord } from '../keys/signing-key.ts';
import type { SigningKey as KeyRow } from '../generated/prisma/postgresql/client.ts';
import type { ChangeRecorder } from '../shared/unit-of-work.ts';
import type { DbTransaction } from './prisma-client.ts';
import { translateErrors } from './prisma-errors.ts';

/**
 * The one active key holds activeSlot 1 and the one next key nextSlot 1; the unique indexes on
 * both refuse a second (see schema.prisma).
 */
function slots(state: KeyState) {
  return { activeSlot: state === 'active' ? 1 : null, nextSlot: state === 'next' ? 1 : null };
}

function toRecord(row: KeyRow): SigningKeyRecord {
  return {
    kid: row.kid,
    alg: row.alg as SigningAlg,
    state: row.state as KeyState,
    publicJwk: JSON.parse(row.publicJwk),
    encryptedPrivateJwk: row.encryptedPrivateJwk,
    createdAt: row.createdAt,
    activatedAt: row.activatedAt,
    retiredAt: row.retiredAt,
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt,
  };
}

export function createPrismaKeyRepository(db: DbTransaction, changes: ChangeRecorder): KeyRepository {
  return {
    listAll: () => translateErrors(async () => (await db.signingKey.findMany({ orderBy: { createdAt: 'asc' } })).map(toRecord)),

    insert: (key) =>
      translateErrors(async () => {
        await db.signingKey.create({
          data: {
            kid: key.kid,
            alg: key.alg,
            state: key.state,
            ...slots(key.state),
            publicJwk: JSON.stringify(key.publicJwk),
            encryptedPrivateJwk: key.encryptedPrivateJwk,
            createdAt: key.createdAt,
            activatedAt: key.activatedAt,
            retiredAt: key.retiredAt,
            expiresAt: key.expiresAt,
            revokedAt: key.revokedAt,
          },
        });
        changes.record({ kind: 'keys' });
      }),

    transition: (kid, from, to, fields) =>
      translateErrors(async () => {
        const { wipePrivateKey, ...times } = fields;
        const result = await db.signingKey.updateMany({
          where: { kid, state: from },
          data: { state: to, ...slots(to), ...times, ...(wipePrivateKey && { encryptedPrivateJwk: '' }) },
        });
        if (result.count === 1) changes.record({ kind: 'keys' });
        return result.count === 1;
      }),

    // No change notification: the key set every instance holds in memory is the same after it.
    replaceSealedPrivateKey: (kid, from, to) =>
      translateErrors(async () => {
        if (from === '') return false;
        const result = await db.signingKey.updateMany({ where: { kid, encryptedPrivateJwk: from }, data: { encryptedPrivateJwk: to } });
        return result.count === 1;
      }),
  };
}
