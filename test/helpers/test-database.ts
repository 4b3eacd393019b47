import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

/**
 * A fresh, empty database for one test service. DATABASE_URL picks the engine, as in production:
 * unset or file:… gives a new SQLite file in a temporary folder; postgresql://… gives a new
 * database created on that server (and dropped afterwards).
 */
export type TestDatabase = { url: string; provider: 'sqlite' | 'postgresql'; drop(): Promise<void> };

export function testDatabaseProvider(): 'sqlite' | 'postgresql' {
  return /^postgres(ql)?:/.test(process.env.DATABASE_URL ?? '') ? 'postgresql' : 'sqlite';
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const base = process.env.DATABASE_URL;
  if (base && /^postgres(ql)?:/.test(base)) {
    const name = `idb_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE "${name}"`);
    } finally {
      await admin.end();
    }
    const url = new URL(base);
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      provider: 'postgresql',
      async drop() {
        const client = new pg.Client({ connectionString: base });
        await client.connect();
        try {
          await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        } finally {
          await client.end();
        }
      },
    };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'idb-test-'));
  return {
    url: `file:${path.join(dir, 'identity.db')}`,
    provider: 'sqlite',
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}
