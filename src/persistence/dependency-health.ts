import type { Logger } from '../shared/logger.ts';

export type DependencyName = 'database' | 'redis';

/** Why a dependency call failed, as an operator acts on it (docs/reliability.md "Storage failures"). */
export const FAILURE_CAUSES = ['disk_full', 'read_only', 'locked', 'timeout', 'connection_refused', 'connection_lost', 'unavailable'] as const;
export type FailureCause = (typeof FAILURE_CAUSES)[number];

type Inspectable = { code?: unknown; errno?: unknown; message?: unknown; cause?: unknown; meta?: { driverAdapterError?: { cause?: { originalCode?: unknown; code?: unknown; kind?: unknown } } } };

/** The codes and messages along an error's cause chain (StorageUnavailable → Prisma → driver). */
function facts(error: unknown): string[] {
  const out: string[] = [];
  let e = error as Inspectable | undefined;
  for (let depth = 0; e && typeof e === 'object' && depth < 6; depth++, e = e.cause as Inspectable | undefined) {
    const adapter = e.meta?.driverAdapterError?.cause;
    for (const v of [e.code, adapter?.originalCode, adapter?.code, adapter?.kind, e.message]) if (v !== undefined && v !== null) out.push(String(v));
  }
  return out;
}

export function classifyFailure(error: unknown): FailureCause {
  const seen = facts(error);
  const any = (test: RegExp) => seen.some((f) => test.test(f));
  if (any(/^SQLITE_FULL|^ENOSPC$|^53100$|database or disk is full|no space left/i)) return 'disk_full';
  if (any(/^SQLITE_READONLY|^SQLITE_CANTOPEN|^SQLITE_IOERR|^SQLITE_PERM|^EROFS$|^EPERM$|^EACCES$|^25006$|readonly database|read-only/i)) return 'read_only';
  if (any(/^SQLITE_BUSY|^SQLITE_LOCKED|^55P03$|database is locked/i)) return 'locked';
  if (any(/^57014$|^P1008$|^ETIMEDOUT$|TimeoutError|timeout|timed out/i)) return 'timeout';
  if (any(/^ECONNREFUSED$|^P1001$|ECONNREFUSED/)) return 'connection_refused';
  if (any(/^ECONNRESET$|^EPIPE$|^57P0[123]$|^P1017$|Connection terminated|Socket closed|ClientClosed|connection lost/i)) return 'connection_lost';
  return 'unavailable';
}

/** A short, credential-free description of the driver's error for the one log line of a transition. */
function summary(error: unknown): { code?: string; message?: string } {
  const e = error as Inspectable | undefined;
  let inner = e;
  while (inner?.cause && typeof inner.cause === 'object') inner = inner.cause as Inspectable;
  const code = inner?.code ?? e?.code;
  const message = typeof inner?.message === 'string' ? inner.message.split('\n')[0]!.slice(0, 200) : undefined;
  return { ...(code !== undefined && { code: String(code) }), ...(message && { message }) };
}

export type DependencyHealth = {
  readonly name: DependencyName;
  readonly up: boolean;
  readonly cause: FailureCause | undefined;
  /** Failures by cause since start, for identity_dependency_failures_total. */
  readonly failures: ReadonlyMap<FailureCause, number>;
  succeeded(): void;
  failed(error: unknown): FailureCause;
};

/**
 * One dependency's state as this process last saw it. Every failed call counts; only a change of
 * state writes a log line, so an outage under load is one error line naming its first cause, and
 * one warn line when it ends, not one per request.
 */
export function createDependencyHealth(name: DependencyName, logger: Logger, label: string = name): DependencyHealth {
  let up = true;
  let cause: FailureCause | undefined;
  const failures = new Map<FailureCause, number>();
  return {
    name,
    get up() { return up; },
    get cause() { return cause; },
    failures,
    succeeded() {
      if (up) return;
      logger.warn({ dependency: name, after: cause }, `${label} available again`);
      up = true;
      cause = undefined;
    },
    failed(error) {
      const now = classifyFailure(error);
      failures.set(now, (failures.get(now) ?? 0) + 1);
      if (!up) {
        // Still down: counted, not logged again (a reconnecting client's causes alternate).
        cause = now;
        return now;
      }
      logger.error({ dependency: name, cause: now, error: summary(error) }, `${label} unavailable: ${now.replace('_', ' ')}`);
      up = false;
      cause = now;
      return now;
    },
  };
}
