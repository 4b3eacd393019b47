// bin/ensure-build.js in a stand-in checkout: the real launcher files, with a tsc and a Prisma
// generator that only record that they ran and write what the real ones would. So "builds once,
// then never again until a source changes" is checked in milliseconds, without touching the
// project's own dist/.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { PROJECT_ROOT } from '../helpers/service-process.ts';

const FAKE_TSC = `
const fs = require('node:fs'); const path = require('node:path');
const root = path.resolve(__dirname, '../../..');
fs.appendFileSync(path.join(root, 'calls.log'), 'tsc\\n');
process.stdout.write('tsc output\\n');
if (fs.existsSync(path.join(root, 'fail-build'))) process.exit(2);
// Slow enough that a second caller arrives while it runs.
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
fs.mkdirSync(path.join(root, 'dist/cli'), { recursive: true });
fs.writeFileSync(path.join(root, 'dist/cli/main.js'), "process.stdout.write('ran ' + process.argv.slice(2).join(' ') + '\\\\n');\\n");
`;

const FAKE_TSX = `
const fs = require('node:fs'); const path = require('node:path');
const root = path.resolve(__dirname, '../../..');
fs.appendFileSync(path.join(root, 'calls.log'), 'generate\\n');
fs.mkdirSync(path.join(root, 'src/generated'), { recursive: true });
fs.writeFileSync(path.join(root, 'src/generated/client.ts'), '');
`;

describe('bin/ensure-build.js: dist/ is built once, and again only when a source changes', () => {
  let root: string;
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'idb-launcher-'));
    dirs.push(root);
    mkdirSync(path.join(root, 'bin'));
    for (const f of ['identity-backend.js', 'ensure-build.js']) copyFileSync(path.join(PROJECT_ROOT, 'bin', f), path.join(root, 'bin', f));
    writeFileSync(path.join(root, 'package.json'), '{"type":"module"}');
    mkdirSync(path.join(root, 'src/cli'), { recursive: true });
    writeFileSync(path.join(root, 'src/cli/main.ts'), '');
    mkdirSync(path.join(root, 'prisma'));
    writeFileSync(path.join(root, 'prisma/schema.prisma'), '');
    writeFileSync(path.join(root, 'tsconfig.json'), '{}');
    mkdirSync(path.join(root, 'node_modules/typescript/bin'), { recursive: true });
    writeFileSync(path.join(root, 'node_modules/typescript/bin/tsc'), FAKE_TSC);
    writeFileSync(path.join(root, 'node_modules/typescript/package.json'), '{"type":"commonjs"}');
    mkdirSync(path.join(root, 'node_modules/tsx/dist'), { recursive: true });
    writeFileSync(path.join(root, 'node_modules/tsx/dist/cli.mjs'), FAKE_TSX.replace(/require\('([^']+)'\)/g, "(await import('$1')).default").replace('__dirname', 'import.meta.dirname'));
  });

  const calls = () => (existsSync(path.join(root, 'calls.log')) ? readFileSync(path.join(root, 'calls.log'), 'utf8').trim().split('\n') : []);
  /** Pushes a file's modification time past the build's, as an edit after it would. */
  const touchLater = (file: string) => {
    const later = new Date(Date.now() + 60_000);
    utimesSync(path.join(root, file), later, later);
  };
  const launch = (...args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [path.join(root, 'bin/identity-backend.js'), ...args], { cwd: root, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });

  it('builds on the first call (the Prisma client too, when missing), keeps the build output off stdout, and runs the command', async () => {
    const first = await launch('clients', 'list');
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, 'ran clients list\n');
    assert.match(first.stderr, /building dist\/ once/);
    assert.match(first.stderr, /tsc output/);
    assert.deepEqual(calls(), ['generate', 'tsc']);
    const second = await launch('keys', 'list');
    assert.equal(second.stdout, 'ran keys list\n');
    assert.equal(second.stderr, '');
    assert.deepEqual(calls(), ['generate', 'tsc'], 'no build when nothing changed');
  });

  it('rebuilds once after a source file changes or is added, and regenerates the client only after a schema change', async () => {
    await launch();
    touchLater('src/cli/main.ts');
    await launch();
    assert.deepEqual(calls(), ['generate', 'tsc', 'tsc']);
    await launch();
    assert.deepEqual(calls(), ['generate', 'tsc', 'tsc']);
    writeFileSync(path.join(root, 'src/cli/new-command.ts'), '');
    touchLater('src/cli');
    await launch();
    assert.deepEqual(calls(), ['generate', 'tsc', 'tsc', 'tsc']);
    touchLater('prisma/schema.prisma');
    await launch();
    assert.deepEqual(calls(), ['generate', 'tsc', 'tsc', 'tsc', 'generate', 'tsc']);
  });

  it('lets concurrent first calls share one build', async () => {
    const runs = await Promise.all([launch('a'), launch('b'), launch('c')]);
    assert.deepEqual(runs.map((r) => r.stdout).sort(), ['ran a\n', 'ran b\n', 'ran c\n']);
    assert.deepEqual(calls(), ['generate', 'tsc']);
  });

  it('builds nothing where there is no src/ (the image), even without TypeScript', async () => {
    await launch();
    rmSync(path.join(root, 'src'), { recursive: true });
    rmSync(path.join(root, 'node_modules/typescript'), { recursive: true });
    const image = await launch('x');
    assert.deepEqual([image.code, image.stdout, calls()], [0, 'ran x\n', ['generate', 'tsc']]);
  });

  it('exits 1 without running the command when the build fails, or when TypeScript is not installed', async () => {
    writeFileSync(path.join(root, 'fail-build'), '');
    const failed = await launch('x');
    assert.equal(failed.code, 1);
    assert.equal(failed.stdout, '');
    assert.match(failed.stderr, /identity-backend: the build failed \(see above\)\n$/);
    rmSync(path.join(root, 'node_modules/typescript'), { recursive: true });
    const missing = await launch('x');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^identity-backend: dist\/ is missing or older than src\/, and TypeScript is not installed/);
  });
});
