import path from 'node:path';

export type DatabaseProvider = 'sqlite' | 'postgresql';

/** Where the data lives: the provider chosen from DATABASE_URL and what its driver needs. */
export type DatabaseTarget =
  | { provider: 'sqlite'; url: string; file: string }
  | { provider: 'postgresql'; url: string };

export const DEFAULT_DATABASE_URL = 'file:./data/identity.db';

/** Classifies a DATABASE_URL; returns undefined for a scheme this service does not support. */
export function parseDatabaseUrl(url: string, cwd = process.cwd()): DatabaseTarget | undefined {
  if (/^postgres(ql)?:\/\//i.test(url)) return { provider: 'postgresql', url };
  if (url.startsWith('file:')) {
    const raw = url.slice('file:'.length).replace(/^\/\/(?=\/)/, '');
    if (raw === '' || raw.includes('?')) return undefined;
    const file = path.resolve(cwd, raw);
    return { provider: 'sqlite', url: `file:${file}`, file };
  }
  return undefined;
}
