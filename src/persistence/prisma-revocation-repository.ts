import { epochSeconds } from '../shared/clock.ts';
import type { ChangeRecorder } from '../shared/unit-of-work.ts';
import type { RevocationRepository } from '../tokens/revocation-repository.ts';
import type { DbTransaction } from './prisma-client.ts';
import { translateErrors } from './prisma-errors.ts';

/**
 * iat is in whole seconds, so "issued before T" is kept as the first whole second at or after T: a
 * token whose iat is below it was issued before T, or in the same second as T (revoked too: when in
 * doubt, revoke).
 */
export const cutoffSeconds = (issuedBefore: Date) => Math.ceil(issuedBefore.getTime() / 1000);

export function createPrismaRevocationRepository(db: DbTransaction, changes: ChangeRecorder): RevocationRepository {
  return {
    revokeToken: ({ jti, clientId, expiresAt }) =>
      translateErrors(async () => {
        if (await db.revokedToken.findUnique({ where: { jti } })) return false;
        // An upsert, not a create: a concurrent revocation of the same token must not fail the
        // transaction (on PostgreSQL a unique violation would abort it, audit record included).
        await db.revokedToken.upsert({ where: { jti }, create: { jti, clientId, expiresAt }, update: {} });
        changes.record({ kind: 'token_revoked', jti, expiresAt: epochSeconds(expiresAt) });
        return true;
      }),

    revokeClientTokens: (cutoff) =>
      translateErrors(async () => {
        const existing = await db.clientTokenRevocation.findUnique({ where: { clientId: cutoff.clientId } });
        const inForce = {
          clientId: cutoff.clientId,
          issuedBefore: existing && existing.issuedBefore > cutoff.issuedBefore ? existing.issuedBefore : cutoff.issuedBefore,
          expiresAt: existing && existing.expiresAt > cutoff.expiresAt ? existing.expiresAt : cutoff.expiresAt,
        };
        await db.clientTokenRevocation.upsert({
          where: { clientId: cutoff.clientId },
          create: inForce,
          update: { issuedBefore: inForce.issuedBefore, expiresAt: inForce.expiresAt },
        });
        changes.record({
          kind: 'client_tokens_revoked', clientId: inForce.clientId, issuedBefore: cutoffSeconds(inForce.issuedBefore), expiresAt: epochSeconds(inForce.expiresAt),
        });
        return inForce;
      }),

    listInForce: (now) =>
      translateErrors(async () => {
        const [tokens, clients] = await Promise.all([
          db.revokedToken.findMany({ where: { expiresAt: { gte: now } }, select: { jti: true, clientId: true, expiresAt: true } }),
          db.clientTokenRevocation.findMany({ where: { expiresAt: { gte: now } }, select: { clientId: true, issuedBefore: true, expiresAt: true } }),
        ]);
        return { tokens, clients };
      }),

    pruneExpired: (now) =>
      translateErrors(async () => {
        const tokens = await db.revokedToken.deleteMany({ where: { expiresAt: { lt: now } } });
        const clients = await db.clientTokenRevocation.deleteMany({ where: { expiresAt: { lt: now } } });
        return tokens.count + clients.count;
      }),
  };
}
