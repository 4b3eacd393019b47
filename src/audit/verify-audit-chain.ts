import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { compactVerify } from 'jose';
import type { Db } from '../persistence/prisma-client.ts';
import { chainHash, GENESIS_HASH } from './audit-chain.ts';
import { CHECKPOINT_TYP, type CheckpointClaims } from './audit-checkpoints.ts';

export type ChainProblem =
  | 'altered' | 'missing' | 'inserted' | 'unchained' | 'truncated' | 'head_mismatch' | 'checkpoint_mismatch' | 'checkpoint_invalid';

export type AuditVerification = {
  intact: boolean;
  eventsChecked: number;
  checkpointsChecked: number;
  firstMismatch: { eventId: string | null; problem: ChainProblem; description: string } | null;
};

export type VerifyProgress = { eventsChecked: number; seq: bigint; headSeq: bigint };

export type VerifyOptions = {
  /**
   * The public keys checkpoints must be signed with (a JWKS's `keys`, kept by an auditor). Without
   * them, the SigningKey rows of the same database: that catches any edit made without the signing
   * key, but someone who can write the database could also add a key of their own.
   */
  keys?: readonly (JsonWebKey & { kid?: string })[];
  /** Rows read per query: the memory a verification holds, however long the chain. */
  pageSize?: number;
  onProgress?: (progress: VerifyProgress) => void;
  /** Runs each query (the service's SQLite gate, so no query lands inside an open transaction). */
  run?: <T>(query: () => Promise<T>) => Promise<T>;
};

type Checkpoint = { seq: bigint; hash: string; kind: string; kid: string; jws: string };

class Mismatch extends Error {
  constructor(readonly eventId: string | null, readonly problem: ChainProblem, description: string) {
    super(description);
  }
}

/**
 * Recomputes the audit chain from the last retention anchor (or the genesis) to the head, in pages
 * of `pageSize` rows, and checks every signed checkpoint on the way; stops at the first event that
 * does not match and names it. Reads only: safe to run beside a serving instance. This is what
 * POST /admin/audit/verify runs, and what a command line calls on the database directly.
 */
export async function verifyAuditChain(db: Db, options: VerifyOptions = {}): Promise<AuditVerification> {
  const pageSize = options.pageSize ?? 1000;
  let eventsChecked = 0;
  let checkpointsChecked = 0;
  const run = options.run ?? ((query) => query());
  const keys = await run(() => trustedKeys(db, options.keys));

  async function checkSignature(cp: Checkpoint): Promise<void> {
    const key = keys.get(cp.kid);
    const where = `the checkpoint at position ${cp.seq}`;
    if (!key) throw new Mismatch(null, 'checkpoint_invalid', `${where} names key ${cp.kid}, which is not a trusted signing key`);
    let claims: CheckpointClaims;
    try {
      const verified = await compactVerify(cp.jws, key);
      if (verified.protectedHeader.typ !== CHECKPOINT_TYP || verified.protectedHeader.kid !== cp.kid) throw new Error('header');
      claims = JSON.parse(new TextDecoder().decode(verified.payload)) as CheckpointClaims;
    } catch {
      throw new Mismatch(null, 'checkpoint_invalid', `${where} does not carry a valid signature of key ${cp.kid}`);
    }
    if (claims.audit_seq !== cp.seq.toString() || claims.audit_hash !== cp.hash || claims.audit_kind !== cp.kind) {
      throw new Mismatch(null, 'checkpoint_invalid', `${where} was changed: its stored position, hash or kind differ from what was signed`);
    }
    checkpointsChecked++;
  }

  try {
    // Events stored while this runs lie beyond the head read here; they are the next verification's.
    const found = await run(() => db.auditChainHead.findUnique({ where: { id: 1 } }));
    if (!found) throw new Mismatch(null, 'head_mismatch', 'the chain head row is missing');
    const head = found;
    const unchained = await run(() => db.auditEvent.findFirst({ where: { seq: null }, orderBy: { id: 'asc' }, select: { id: true } }));
    if (unchained) throw new Mismatch(unchained.id, 'unchained', `event ${unchained.id} has no place in the chain: it was inserted outside the service`);

    // Retention deletes everything up to its anchor; the anchor's signed hash is where the chain resumes.
    const anchor = await run(() => db.auditCheckpoint.findFirst({ where: { kind: 'anchor', seq: { lte: head.seq } }, orderBy: { seq: 'desc' } }));
    if (anchor) await checkSignature(anchor);
    let expected = (anchor?.seq ?? 0n) + 1n;
    let previous = anchor?.hash ?? GENESIS_HASH;

    let checkpoints: Checkpoint[] = [];
    let checkpointsAfter = anchor?.seq ?? 0n;
    let checkpointsDone = false;
    async function nextCheckpoint(): Promise<Checkpoint | undefined> {
      if (checkpoints.length === 0 && !checkpointsDone) {
        checkpoints = await run(() => db.auditCheckpoint.findMany({ where: { seq: { gt: checkpointsAfter, lte: head.seq } }, orderBy: { seq: 'asc' }, take: pageSize }));
        if (checkpoints.length < pageSize) checkpointsDone = true;
        if (checkpoints.length) checkpointsAfter = checkpoints.at(-1)!.seq;
      }
      return checkpoints[0];
    }

    for (;;) {
      const rows = await run(() => db.auditEvent.findMany({ where: { seq: { gte: expected, lte: head.seq } }, orderBy: { seq: 'asc' }, take: pageSize }));
      for (const row of rows) {
        const seq = row.seq!;
        if (seq !== expected) {
          throw new Mismatch(row.id, 'missing', `events at positions ${expected}${seq - 1n > expected ? `-${seq - 1n}` : ''} are missing (deleted) before event ${row.id}`);
        }
        const hash = chainHash(previous, seq, row);
        if (hash !== row.hash) {
          throw new Mismatch(row.id, 'altered', `event ${row.id} (position ${seq}) does not match its hash: its stored fields were changed`);
        }
        for (let cp = await nextCheckpoint(); cp && cp.seq <= seq; cp = await nextCheckpoint()) {
          checkpoints.shift();
          await checkSignature(cp);
          if (cp.seq < seq) throw new Mismatch(row.id, 'missing', `the event at signed position ${cp.seq} is missing`);
          if (cp.hash !== hash) {
            throw new Mismatch(row.id, 'checkpoint_mismatch', `event ${row.id} (position ${seq}) differs from the signed checkpoint there: the chain was recomputed after a change at or before it`);
          }
        }
        previous = hash;
        expected = seq + 1n;
        eventsChecked++;
      }
      options.onProgress?.({ eventsChecked, seq: expected - 1n, headSeq: head.seq });
      if (rows.length < pageSize) break;
    }

    const last = expected - 1n;
    const later = await nextCheckpoint();
    if (later) await checkSignature(later);
    if (last < head.seq || later) {
      throw new Mismatch(null, 'truncated', `events after position ${last} are missing (the ${later ? 'signed checkpoints' : 'chain head'} reach position ${later?.seq ?? head.seq})`);
    }
    if (head.hash !== previous) throw new Mismatch(null, 'head_mismatch', `the chain head's hash does not match the event at position ${last}`);
    // A row placed after the head (as it is now, since the chain may have grown meanwhile) was not put there by a writer of the chain.
    const now = await run(() => db.auditChainHead.findUnique({ where: { id: 1 } }));
    const beyond = await run(() => db.auditEvent.findFirst({ where: { seq: { gt: now?.seq ?? head.seq } }, orderBy: { seq: 'asc' }, select: { id: true, seq: true } }));
    if (beyond) {
      throw new Mismatch(beyond.id, 'inserted', `event ${beyond.id} sits at position ${beyond.seq}, after the chain's head: it was added outside the service`);
    }
    return { intact: true, eventsChecked, checkpointsChecked, firstMismatch: null };
  } catch (error) {
    if (!(error instanceof Mismatch)) throw error;
    return { intact: false, eventsChecked, checkpointsChecked, firstMismatch: { eventId: error.eventId, problem: error.problem, description: error.message } };
  }
}

async function trustedKeys(db: Db, given: VerifyOptions['keys']): Promise<Map<string, KeyObject>> {
  const jwks = given ?? (await db.signingKey.findMany({ select: { kid: true, publicJwk: true } })).map((k) => ({ ...(JSON.parse(k.publicJwk) as JsonWebKey), kid: k.kid }));
  const keys = new Map<string, KeyObject>();
  for (const jwk of jwks) if (jwk.kid) keys.set(jwk.kid, createPublicKey({ key: jwk, format: 'jwk' }));
  return keys;
}
