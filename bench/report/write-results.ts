import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Writes `<dir>/<name>.md` and `<dir>/<name>.json`; answers the markdown path. */
export function writeResults(dir: string, name: string, markdown: string, data: unknown): string {
  mkdirSync(dir, { recursive: true });
  const markdownPath = path.join(dir, `${name}.md`);
  writeFileSync(markdownPath, `${markdown}\n`);
  writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(data, null, 2)}\n`);
  return markdownPath;
}
