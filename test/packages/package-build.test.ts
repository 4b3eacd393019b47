import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

const root = path.resolve(import.meta.dirname, '../..');
const rootManifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const tsc = path.join(root, 'node_modules/typescript/bin/tsc');

/**
 * The two packages as a target or calling service would install them: built to JavaScript with their
 * own tsconfig, laid out in a fresh node_modules next to nothing but jose, and imported by plain Node.
 * An import of anything else (express, Prisma, the server's code) would fail to resolve there.
 */
describe('the workspace packages, built and installed on their own', () => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'idb-packages-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));
  mkdirSync(path.join(scratch, 'node_modules/@identity-backend'), { recursive: true });
  symlinkSync(path.join(root, 'node_modules/jose'), path.join(scratch, 'node_modules/jose'), 'dir');

  assert.deepEqual(rootManifest.workspaces, ['packages/*']);

  for (const [dir, expectedExports] of [
    ['verifier', ['accessTokenOf', 'createMiddleware', 'createRemoteJwks', 'createVerifier', 'verify', 'AccessTokenRejected']],
    ['token-client', ['createTokenSource', 'TokenRequestFailed', 'TOKEN_EXCHANGE_GRANT']],
  ] as const) {
    it(`@identity-backend/${dir} depends on jose alone, builds, and loads from its exports`, () => {
      const source = path.join(root, 'packages', dir);
      const manifest = JSON.parse(readFileSync(path.join(source, 'package.json'), 'utf8'));
      assert.equal(manifest.name, `@identity-backend/${dir}`);
      assert.deepEqual(manifest.dependencies, { jose: rootManifest.dependencies.jose }, 'jose only, the version the server uses');
      assert.equal(manifest.devDependencies, undefined);
      if (dir === 'verifier') assert.deepEqual(manifest.peerDependenciesMeta, { express: { optional: true } });

      const installed = path.join(scratch, 'node_modules/@identity-backend', dir);
      execFileSync(process.execPath, [tsc, '-p', path.join(source, 'tsconfig.json'), '--outDir', path.join(installed, 'dist')], { stdio: 'pipe' });
      cpSync(path.join(source, 'package.json'), path.join(installed, 'package.json'));
      assert.ok(readdirSync(path.join(installed, 'dist')).includes('index.d.ts'));
      for (const file of readdirSync(path.join(installed, 'dist')).filter((f) => f.endsWith('.d.ts'))) {
        assert.doesNotMatch(readFileSync(path.join(installed, 'dist', file), 'utf8'), /from '\.\/[^']+\.ts'/, `${file} imports only what the build emits`);
      }
      const exported = execFileSync(process.execPath, ['--input-type=module', '-e',
        `const m = await import('@identity-backend/${dir}'); console.log(JSON.stringify(Object.keys(m)))`], { cwd: scratch, encoding: 'utf8' });
      const names: string[] = JSON.parse(exported);
      for (const name of expectedExports) assert.ok(names.includes(name), `exports ${name}`);
    });
  }
});
