import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient as PostgresPrismaClient } from '../generated/prisma/postgresql/client.ts';
import { PrismaClient as SqlitePrismaClient } from '../generated/prisma/sqlite/client.ts';
import type { DatabaseTarget } from './database-target.ts';
import { prepareSqliteFile } from './sqlite-file.ts';

/**
 * The two generated clients share one model API (they come from one schema.prisma); repositories
 * are written once against this type.
 */
export type Db = PostgresPrismaClient;
export type DbTransaction = Omit<Db, '$connect' | '$disconnect' | '$on' | '$transaction' | '$extends'>;

/** Opens Prisma Client on the target database through its driver adapter. */
export async function createPrismaClient(target: DatabaseTarget): Promise<Db> {
  if (target.provider === 'postgresql') {
    // A short connect timeout lets POST /token answer 503 quickly when PostgreSQL is down.
    const adapter = new PrismaPg({ connectionString: target.url, max: 10, connectionTimeoutMillis: 3000 });
    return new PostgresPrismaClient({ adapter });
  }
  prepareSqliteFile(target.file);
  const adapter = new PrismaBetterSqlite3({ url: target.file, timeout: 5000 });
  const db = new SqlitePrismaClient({ adapter }) as unknown as Db;
  // WAL lets readers proceed during a write; NORMAL sync is durable across process crashes in WAL mode.
  await db.$queryRawUnsafe('PRAGMA journal_mode = WAL');
  await db.$queryRawUnsafe('PRAGMA synchronous = NORMAL');
  await db.$queryRawUnsafe('PRAGMA foreign_keys = ON');
  return db;
}
