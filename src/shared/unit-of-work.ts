import type { AuditRepository } from '../audit/audit-repository.ts';
import type { ClientRepository } from '../clients/client-repository.ts';
import type { KeyRepository } from '../keys/key-repository.ts';

/** The repositories, all bound to one connection or one transaction. */
export type Stores = { clients: ClientRepository; keys: KeyRepository; audit: AuditRepository };

/**
 * Runs work with stores bound to one transaction: a state change and its audit event commit
 * together or not at all, so the service fails closed.
 */
export type UnitOfWork = {
  stores: Stores;
  transaction<T>(work: (stores: Stores) => Promise<T>): Promise<T>;
  /** Resolves when the database answers a trivial query; throws StorageUnavailable otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
};
