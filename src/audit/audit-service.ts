import type { Clock } from '../shared/clock.ts';
import type { AuditRepository } from './audit-repository.ts';
import type { AuditRecord, RequestContext } from './audit-event.ts';

export type AuditEntry = Omit<AuditRecord, 'time' | 'requestId' | 'sourceAddress'>;

/** Stamps entries with the time and the request context, then stores them. */
export type AuditService = {
  record(repository: AuditRepository, context: RequestContext, entry: AuditEntry): Promise<void>;
};

export function createAuditService(deps: { clock: Clock }): AuditService {
  return {
    record: (repository, context, entry) =>
      repository.append({ ...entry, time: deps.clock.now(), requestId: context.requestId, sourceAddress: context.sourceAddress }),
  };
}
