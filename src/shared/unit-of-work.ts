import type { AuditRepository } from '../audit/audit-repository.ts';
import type { ClientRepository } from '../clients/client-repository.ts';
import type { KeyRepository } from '../keys/key-repository.ts';
import type { Change } from '../changes/change-feed.ts';
import type { RevocationRepository } from '../tokens/revocation-repository.ts';
import type { TrustedIssuerRepository } from '../issuers/trusted-issuer-repository.ts';

/** The repositories, all bound to one connection or one transaction. */
export type Stores = {
  clients: ClientRepository; keys: KeyRepository; audit: AuditRepository; trustedIssuers: TrustedIssuerRepository; revocations: RevocationRepository;
};

/** Where a repository write reports what it changed; the unit of work passes it on after commit. */
export type ChangeRecorder = { record(change: Change): void };

/** Told what a write changed once it is committed (and never for a rolled-back transaction). */
export type CommitListener = (changes: readonly Change[]) => Promise<void>;

/**
 * Runs work with stores bound to one transaction: a state change and its audit event commit
 * together or not at all, so the service fails closed.
 */
export type UnitOfWork = {
  stores: Stores;
  transaction<T>(work: (stores: Stores) => Promise<T>): Promise<T>;
  /**
   * Registers the after-commit hook: every committed write, in a transaction or not, through any
   * code path (admin API, CLI, bootstrap, key scheduler), reports its changes here.
   */
  onCommit(listener: CommitListener): void;
  /** Resolves when the database answers a trivial query; throws StorageUnavailable otherwise. */
  ping(): Promise<void>;
  /**
   * Commits one small write to the database the audit rows go to (a ServiceSetting row), so a full
   * disk, a read-only file or a held lock shows before a token request meets it.
   */
  probeWrite(): Promise<void>;
  close(): Promise<void>;
};
