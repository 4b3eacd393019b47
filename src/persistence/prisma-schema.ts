import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DatabaseProvider } from './database-target.ts';

/** The repository root: two levels above this file both in src/ and in dist/. */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const providers: readonly DatabaseProvider[] = ['postgresql', 'sqlite'];

export function migrationsDir(provider: DatabaseProvider): string {
  return path.join(projectRoot, 'prisma/migrations', provider);
}

/**
 * The Prisma schema for one provider. prisma/schema.prisma is the single source of truth and names
 * PostgreSQL; Prisma fixes the provider per schema file, so the SQLite variant differs only in its
 * provider and in the folder its client is generated into.
 */
export function schemaFor(provider: DatabaseProvider): string {
  const source = readFileSync(path.join(projectRoot, 'prisma/schema.prisma'), 'utf8');
  if (provider === 'postgresql') return source;
  return source
    .replace(/(datasource db \{[^}]*provider\s*=\s*)"postgresql"/, `$1"${provider}"`)
    .replace('/prisma/postgresql"', `/prisma/${provider}"`);
}
