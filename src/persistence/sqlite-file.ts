import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import path from 'node:path';

/**
 * Creates the SQLite file (mode 0600) and, when missing, its directory (0700) before any driver
 * opens them: SQLite would create the file 0644 under the usual umask, and it gives the -wal and
 * -shm files the mode of the database file. An existing file is left as the operator set it.
 */
export function prepareSqliteFile(file: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(file, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

/** Another process has the SQLite file open: the schema engine cannot lock it to migrate. */
export class SqliteFileInUse extends Error {
  constructor(file: string) {
    super(`DATABASE_URL: ${file} is in use by another process (an instance already serving it?); one SQLite file serves one instance: `
      + 'stop the other, run more processes with WEB_CONCURRENCY, or use PostgreSQL for several instances (docs/operations.md)');
  }
}

/**
 * Whether another process holds the file open. Prisma's schema engine takes SQLite's exclusive lock
 * to migrate, which every open connection prevents (in WAL mode each holds a shared lock on the
 * file); asking for that lock once, without waiting, tells beforehand what the engine would
 * otherwise report as a Rust backtrace after its busy timeout.
 */
export function sqliteFileInUse(file: string): boolean {
  if (!existsSync(file)) return false;
  const db = new BetterSqlite3(file, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE; COMMIT;');
    return false;
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_BUSY') return true;
    throw error;
  } finally {
    db.close();
  }
}
