import type { Page, PageRequest } from '../shared/page.ts';
import type { AuditFilter, AuditRecord, StoredAuditEvent } from './audit-event.ts';

export interface AuditRepository {
  /** Stores the record durably before resolving; throws StorageUnavailable when it cannot. */
  append(record: AuditRecord): Promise<void>;
  /** Stores several records in one statement: all or none. */
  appendMany(records: AuditRecord[]): Promise<void>;
  /** Newest first. Throws ValidationFailed for a cursor it did not issue. */
  list(filter: AuditFilter, page: PageRequest): Promise<Page<StoredAuditEvent>>;
}
