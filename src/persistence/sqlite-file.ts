import { closeSync, mkdirSync, openSync } from 'node:fs';
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
