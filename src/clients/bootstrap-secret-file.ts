import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const BOOTSTRAP_SECRET_FILE = 'bootstrap-admin-secret';

/**
 * Keeps a generated bootstrap admin secret in KEYS_DIR beside the development key, mode 0600, so
 * it never has to pass through stdout or the JSON log stream. A file left from an earlier database
 * is replaced; the new one is created exclusively (`wx`), never through whatever stood in its place.
 */
export function writeBootstrapSecretFile(keysDir: string, secret: string): string {
  mkdirSync(keysDir, { recursive: true, mode: 0o700 });
  const file = path.join(keysDir, BOOTSTRAP_SECRET_FILE);
  rmSync(file, { force: true });
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  return file;
}
