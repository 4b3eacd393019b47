import Database from 'better-sqlite3';
import pg from 'pg';
import type { TestDatabase } from './test-database.ts';

/**
 * A statement run on the test database over a connection of its own, as someone with database
 * access and no part in the service would run it (the tamper tests). `?` placeholders on both.
 */
export async function rawSql<T = Record<string, unknown>>(database: TestDatabase, sql: string, params: unknown[] = []): Promise<T[]> {
  if (database.provider === 'postgresql') {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      let i = 0;
      return (await client.query(sql.replace(/\?/g, () => `$${++i}`), params)).rows as T[];
    } finally {
      await client.end();
    }
  }
  const db = new Database(database.url.replace(/^file:/, ''));
  try {
    db.defaultSafeIntegers(false);
    const statement = db.prepare(sql);
    return statement.reader ? (statement.all(...params) as T[]) : (statement.run(...params), []);
  } finally {
    db.close();
  }
}
