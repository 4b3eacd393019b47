import type { Clock } from '../shared/clock.ts';
import { timeOrderedId } from '../shared/ids.ts';
import type { AuditRepository } from './audit-repository.ts';
import type { AuditRecord, RequestContext } from './audit-event.ts';

export type AuditEntry = Omit<AuditRecord, 'time' | 'requestId' | 'sourceAddress'>;

/** Stamps entries with an id, the time and the request context, then stores them. */
export type AuditService = {
  record(repository: AuditRepository, context: RequestContext, entry: AuditEntry): Promise<void>;
};

export function createAuditService(deps: { clock: Clock }): AuditService {
  return {
    record: (repository, context, entry) => {
      const time = deps.clock.now();
      return repository.append({ ...entry, id: timeOrderedId(time.getTime()), time, requestId: context.requestId, sourceAddress: context.sourceAddress });
    },
  };
}
