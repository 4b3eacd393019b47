import { epochSeconds, type Clock } from '../shared/clock.ts';
import type { ActiveSigningKey } from '../keys/key-service.ts';
import type { Db } from '../persistence/prisma-client.ts';
import type { Gate } from '../persistence/sqlite-gate.ts';
import { translateErrors } from '../persistence/prisma-errors.ts';
import { createJwsSigner } from '../tokens/jws-signer.ts';

/**
 * The JWS `typ` of a checkpoint. Distinct from at+jwt, and the payload has no aud, sub or exp, so a
 * resource server validating RFC 9068 access tokens can never take a checkpoint for one.
 */
export const CHECKPOINT_TYP = 'audit-checkpoint+jwt';

export type CheckpointKind = 'periodic' | 'anchor';

/** What a checkpoint signs: the chain had `audit_hash` at position `audit_seq` (decimal text). */
export type CheckpointClaims = { iss: string; iat: number; audit_seq: string; audit_hash: string; audit_kind: CheckpointKind };

export type CheckpointWriter = {
  /**
   * Signs the current head (periodic) or a given position (anchor, at a retention cut) with the
   * active signing key and stores it. Returns false when there is nothing new to sign or no key.
   */
  write(kind: CheckpointKind, at?: { seq: bigint; hash: string }): Promise<boolean>;
};

export function createCheckpointWriter(deps: { db: Db; gate: Gate; clock: Clock; issuer: string; activeKey: () => ActiveSigningKey | undefined }): CheckpointWriter {
  const { db, gate } = deps;
  return {
    async write(kind, at) {
      const key = deps.activeKey();
      if (!key) return false;
      const point = at ?? await gate.run(() => translateErrors(() => db.auditChainHead.findUnique({ where: { id: 1 } })));
      if (!point || point.seq === 0n) return false;
      if (kind === 'periodic') {
        const latest = await gate.run(() => translateErrors(() => db.auditCheckpoint.findFirst({ orderBy: { seq: 'desc' }, select: { seq: true } })));
        if (latest && latest.seq >= point.seq) return false;
      }
      const now = deps.clock.now();
      const claims: CheckpointClaims = { iss: deps.issuer, iat: epochSeconds(now), audit_seq: point.seq.toString(), audit_hash: point.hash, audit_kind: kind };
      const jws = await createJwsSigner(key, CHECKPOINT_TYP).sign(claims);
      const row = { seq: point.seq, hash: point.hash, kind, time: now, kid: key.kid, jws };
      // Several instances may sign the same head; the first stored wins, except that an anchor
      // replaces a periodic checkpoint at its position (verification starts from the anchor).
      await gate.run(() => translateErrors(() => db.auditCheckpoint.upsert({ where: { seq: point.seq }, create: row, update: kind === 'anchor' ? row : {} })));
      return true;
    },
  };
}

/** Signs the head every `intervalSeconds` while the service runs; a failure is logged and retried next time. */
export function startCheckpointTimer(writer: CheckpointWriter, intervalSeconds: number, onError: (error: unknown) => void): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = writer.write('periodic').catch(onError);
  }, intervalSeconds * 1000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
