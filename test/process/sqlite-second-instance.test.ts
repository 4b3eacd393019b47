import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseDatabaseUrl } from '../../src/persistence/database-target.ts';
import { applyMigrations } from '../../src/persistence/migrations.ts';
import { sqliteFileInUse } from '../../src/persistence/sqlite-file.ts';
import { freePort } from '../helpers/free-port.ts';
import { killAll, spawnService } from '../helpers/service-process.ts';
import { startTestService, type TestService } from '../helpers/start-app.ts';
import { testDatabaseProvider } from '../helpers/test-database.ts';

/** SQLite only: on PostgreSQL several instances are the supported set-up. */
describe('a second instance on the same SQLite file', { skip: testDatabaseProvider() !== 'sqlite' }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'idb-second-'));
  const file = path.join(dir, 'identity.db');
  let first: TestService | undefined;
  after(async () => {
    await killAll();
    await first?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('SQ-01 the probe finds a file nobody holds free, before and after migrating it', async () => {
    const target = parseDatabaseUrl(`file:${file}`)!;
    assert.equal(sqliteFileInUse(file), false, 'no file yet');
    await applyMigrations(target);
    assert.equal(sqliteFileInUse(file), false);
    // Migrating again is a no-op, not a refusal.
    assert.deepEqual(await applyMigrations(target), []);
  });

  it('SQ-02 the second process refuses to start in one line naming DATABASE_URL; the first keeps serving', async () => {
    // The first instance in this process, the second as operators start it.
    first = await startTestService({ DATABASE_URL: `file:${file}` });
    const second = spawnService({ DATABASE_URL: `file:${file}`, KEYS_DIR: first.keysDir, HOST: '127.0.0.1', PORT: String(await freePort()) });
    const { code } = await second.exited;
    assert.equal(code, 1);
    const lines = second.stderr().trim().split('\n');
    assert.equal(lines.length, 1, second.stderr());
    assert.match(lines[0]!, /^identity-backend: failed to start: DATABASE_URL: \S+identity\.db is in use by another process .*PostgreSQL for several instances/);
    assert.doesNotMatch(second.stderr(), /WASM_ERROR|wasm-function|schema_engine/);
    assert.equal((await first.agent.get('/readyz')).status, 200);
  });
});
