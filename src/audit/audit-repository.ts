import type { Page, PageRequest } from '../shared/page.ts';
import type { AuditFilter, AuditRecord, StoredAuditEvent } from './audit-event.ts';

export interface AuditRepository {
  /** Stores the record durably before resolving; throws StorageUnavailable when it cannot. */
  append(record: AuditRecord): Promise<void>;
  /** Stores several records in one statement: all or none. */
  appendMany(records: readonly AuditRecord[]): Promise<void>;
  /** Newest first. Throws ValidationFailed for a cursor it did not issue. */
  list(filter: AuditFilter, page: PageRequest): Promise<Page<StoredAuditEvent>>;
  /**
   * Events after a chain position, in the order they were committed (the chain's), at most `limit`
   * of them, and the position the read reached (filtered-out events still move it on).
   */
  follow(filter: AuditFilter, position: bigint, limit: number): Promise<{ items: StoredAuditEvent[]; position: bigint }>;
  /** Tokens issued per client since `since`, most first. */
  issuedPerClient(since: Date, limit: number): Promise<Array<{ clientId: string; tokens: number }>>;
  /** The chain position of an event (undefined for an id not stored), or of the head without an id. */
  positionOf(id?: string): Promise<bigint | undefined>;
}
