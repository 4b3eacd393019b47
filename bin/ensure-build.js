// Makes dist/ current before a compiled entry point runs: imported first by bin/identity-backend.js,
// and preloaded (`node --import ./bin/ensure-build.js dist/cli/keys.js`) by the npm scripts that run
// the older entry points. In a source checkout, when a file under src/, tsconfig.json or
// prisma/schema.prisma is newer than the build, it builds once (Prisma Client generation only when
// the schema changed, then tsc) and later calls start straight away. An image holds dist/ and no
// src/, so nothing is checked there. Build output goes to stderr: stdout belongs to the command.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Written by every tsc run, so its time is the build's. */
const stamp = path.join(root, 'dist/cli/main.js');
const generated = path.join(root, 'src/generated');
const LOCK = path.join(root, 'dist/.cli-build-lock');

/** The newest modification time under `dir`; directories count, so an added or deleted file does too. */
function newest(dir, skip) {
  let latest = statSync(dir).mtimeMs;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (full === skip) continue;
    latest = Math.max(latest, e.isDirectory() ? newest(full, skip) : statSync(full).mtimeMs);
  }
  return latest;
}

const mtime = (file) => (existsSync(file) ? statSync(file).mtimeMs : 0);

/** The newest time among the build's inputs. */
function newestInput() {
  return Math.max(newest(path.join(root, 'src'), generated), mtime(path.join(root, 'tsconfig.json')), mtime(path.join(root, 'prisma/schema.prisma')));
}

function stale() {
  const built = mtime(stamp);
  return built === 0 || newestInput() > built;
}

function run(file, args) {
  const result = spawnSync(process.execPath, [file, ...args], { cwd: root, stdio: ['ignore', 2, 2] });
  return result.status === 0;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/** One build at a time: a second caller waits for the first and then finds dist/ current. */
function withLock(work) {
  mkdirSync(path.dirname(LOCK), { recursive: true });
  for (;;) {
    try {
      writeFileSync(LOCK, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      let holder;
      try {
        holder = Number(readFileSync(LOCK, 'utf8').trim());
      } catch (readError) {
        if (readError.code === 'ENOENT') continue; // released in between: try to take it again
        throw readError;
      }
      if (holder && !alive(holder)) rmSync(LOCK, { force: true });
      else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    return work();
  } finally {
    rmSync(LOCK, { force: true });
  }
}

function build() {
  const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
  if (!existsSync(tsc)) {
    process.stderr.write('identity-backend: dist/ is missing or older than src/, and TypeScript is not installed: run `npm ci` (with development dependencies) or `npm run build`\n');
    process.exit(1);
  }
  process.stderr.write(`identity-backend: building dist/ once (${mtime(stamp) ? 'src/ changed since the last build' : 'there is no build yet'})…\n`);
  const schema = path.join(root, 'prisma/schema.prisma');
  const needsClient = !existsSync(generated) || mtime(schema) > newest(generated);
  const tsx = path.join(root, 'node_modules/tsx/dist/cli.mjs');
  const inputs = newestInput();
  if (needsClient && !run(tsx, [path.join(root, 'scripts/prisma-generate.ts')])) return false;
  if (!run(tsc, ['-p', path.join(root, 'tsconfig.json')])) return false;
  // A source dated in the future (clock skew, an unpacked archive) must not look newer than every build.
  // (+1 ms: utimes takes seconds as a float, which may round a hair below the input's own time.)
  const built = (Math.max(inputs, mtime(stamp)) + 1) / 1000;
  utimesSync(stamp, built, built);
  return true;
}

if (existsSync(path.join(root, 'src')) && stale()) {
  const ok = withLock(() => !stale() || build());
  if (!ok) {
    process.stderr.write('identity-backend: the build failed (see above)\n');
    process.exit(1);
  }
}
