import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseDatabaseUrl } from '../../src/persistence/database-target.ts';
import { applyMigrations } from '../../src/persistence/migrations.ts';
import { closeDatabase, openDatabase } from '../../src/persistence/prisma-client.ts';

/** SQLite only, whatever DATABASE_URL says: the files exist only on this engine. */
describe('the SQLite database files', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'idb-sqlite-mode-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const mode = (file: string) => (statSync(file).mode & 0o777).toString(8);

  it('are created 0600 (database, -wal and -shm) in a directory created 0700, even under a permissive umask', async () => {
    const target = parseDatabaseUrl(`file:${path.join(root, 'data', 'identity.db')}`)!;
    assert.equal(target.provider, 'sqlite');
    const previous = process.umask(0o002);
    try {
      await applyMigrations(target);
      const opened = await openDatabase(target);
      const { db } = opened;
      try {
        // A write in WAL mode, so the -wal and -shm files exist while the connection is open.
        await db.replayEntry.create({ data: { key: 'mode-check', expiresAt: new Date() } });
        const file = target.file;
        assert.equal(mode(path.dirname(file)), '700');
        assert.equal(mode(file), '600');
        for (const suffix of ['-wal', '-shm']) {
          assert.ok(existsSync(file + suffix), `${suffix} exists`);
          assert.equal(mode(file + suffix), '600', suffix);
        }
      } finally {
        await closeDatabase(opened);
      }
    } finally {
      process.umask(previous);
    }
  });
});
