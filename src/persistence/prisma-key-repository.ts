import type { SigningAlg } from '../config/config-schema.ts';
import type { KeyRepository } from '../keys/key-repository.ts';
import type { KeyState, SigningKeyRecord } from '../keys/signing-key.ts';
import type { SigningKey as KeyRow } from '../generated/prisma/postgresql/client.ts';
import type { DbTransaction } from './prisma-client.ts';
import { translateErrors } from './prisma-errors.ts';

/** The one active key holds slot 1; the unique index on activeSlot refuses a second (see schema.prisma). */
const ACTIVE_SLOT = 1;

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

export function createPrismaKeyRepository(db: DbTransaction): KeyRepository {
  return {
    listAll: () => translateErrors(async () => (await db.signingKey.findMany({ orderBy: { createdAt: 'asc' } })).map(toRecord)),

    insert: (key) =>
      translateErrors(async () => {
        await db.signingKey.create({
          data: {
            kid: key.kid,
            alg: key.alg,
            state: key.state,
            activeSlot: key.state === 'active' ? ACTIVE_SLOT : null,
            publicJwk: JSON.stringify(key.publicJwk),
            encryptedPrivateJwk: key.encryptedPrivateJwk,
            createdAt: key.createdAt,
            activatedAt: key.activatedAt,
            retiredAt: key.retiredAt,
            expiresAt: key.expiresAt,
            revokedAt: key.revokedAt,
          },
        });
      }),
  };
}
