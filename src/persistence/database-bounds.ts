/**
 * How long each kind of database call may take (docs/reliability.md). Config sets them
 * (DATABASE_CONNECT_TIMEOUT, DATABASE_STATEMENT_TIMEOUT, DATABASE_IDLE_TIMEOUT, SQLITE_SYNCHRONOUS);
 * code that opens a database without a config (tests, benchmarks) gets the same defaults.
 */
export type DatabaseBounds = {
  connectMs: number;
  statementMs: number;
  idleMs: number;
  sqliteSynchronous: 'full' | 'normal';
};

export const DEFAULT_DATABASE_BOUNDS: DatabaseBounds = { connectMs: 3000, statementMs: 5000, idleMs: 30_000, sqliteSynchronous: 'full' };

/**
 * The client-side bound of a PostgreSQL query: the server's statement_timeout ends a slow statement
 * itself; this later one catches a connection that died without a FIN or RST (the server's answer
 * can never come), so the pool drops that connection instead of waiting for TCP to notice.
 */
export const queryTimeoutMs = (bounds: DatabaseBounds) => bounds.statementMs + 1000;

/** TCP keepalive probes start after this much silence on a pooled connection. */
export const KEEPALIVE_INITIAL_DELAY_MS = 10_000;

/**
 * SQLite's own busy handler sleeps on the event loop; it gets only this long per attempt, and the
 * serial gate retries asynchronously (sqlite-gate.ts) up to the statement bound.
 */
export const SQLITE_BUSY_ATTEMPT_MS = 25;

/** postgresql://user:secret@host:5432/db → "PostgreSQL at host:5432": names a dependency without its credentials. */
export function describePostgres(url: string): string {
  try {
    const u = new URL(url);
    return `PostgreSQL at ${u.hostname}${u.port ? `:${u.port}` : ''}`;
  } catch {
    return 'PostgreSQL';
  }
}
