import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { builtinModules } from 'node:module';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

const root = path.resolve(import.meta.dirname, '../..');
const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>; dependencies: Record<string, string>; devDependencies: Record<string, string>;
};

/** The instructions of one stage, as [keyword, rest] pairs (continuation lines joined). */
function stages(text: string): Array<Array<[string, string]>> {
  const joined = text.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const result: Array<Array<[string, string]>> = [];
  for (const line of joined) {
    const [keyword, ...rest] = line.split(/\s+/);
    if (keyword!.toUpperCase() === 'FROM') result.push([]);
    result.at(-1)!.push([keyword!.toUpperCase(), rest.join(' ')]);
  }
  return result;
}

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? jsFiles(path.join(dir, e.name)) : e.name.endsWith('.js') ? [path.join(dir, e.name)] : []);
}

describe('Dockerfile and the README commands build and run the same thing', () => {
  const [build, runtime] = stages(dockerfile);

  it('is multi-stage: a build stage with npm ci and npm run build, a runtime stage without dev dependencies', () => {
    assert.ok(build && runtime, 'two stages');
    const runs = build.filter(([k]) => k === 'RUN').map(([, v]) => v).join('\n');
    assert.match(runs, /\bnpm ci\b/);
    assert.match(runs, /\bnpm run build\b/);
    assert.match(runs, /\bnpm prune --omit=dev\b/);
    assert.ok(!runtime.some(([k, v]) => k === 'RUN' && /npm (ci|install)/.test(v)), 'the runtime stage installs nothing');
  });

  it('runs as a non-root user, with a HEALTHCHECK on /readyz, and starts exactly like npm start', () => {
    const user = runtime!.filter(([k]) => k === 'USER').at(-1)?.[1];
    assert.ok(user && user !== 'root' && user !== '0', `USER is ${user}`);
    const health = runtime!.find(([k]) => k === 'HEALTHCHECK')?.[1] ?? '';
    assert.match(health, /\/readyz/);
    const cmd = JSON.parse(runtime!.find(([k]) => k === 'CMD')![1]) as string[];
    assert.equal(cmd.join(' '), pkg.scripts.start, 'CMD equals the start script (which applies migrations, then serves)');
    assert.match(pkg.scripts.prestart ?? '', /npm run build/);
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8').split('\n').slice(0, 5).join('\n');
    assert.match(readme, /npm ci && npm start/);
    assert.match(readme, /npm test/);
  });

  describe('the runtime file set', () => {
    let work: string;
    let db: TestDatabase;
    before(async () => {
      work = mkdtempSync(path.join(tmpdir(), 'idb-image-'));
      execFileSync(path.join(root, 'node_modules/.bin/tsc'), ['-p', path.join(root, 'tsconfig.json'), '--outDir', path.join(work, 'dist')], { cwd: root });
      db = await createTestDatabase();
    });
    after(async () => {
      rmSync(work, { recursive: true, force: true });
      await db.drop();
    });

    it('imports only production dependencies and Node built-ins at run time', () => {
      const allowed = new Set([...Object.keys(pkg.dependencies), ...builtinModules]);
      const offenders = new Set<string>();
      for (const file of jsFiles(path.join(work, 'dist'))) {
        for (const m of readFileSync(file, 'utf8').matchAll(/(?:^|[\s;])(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm)) {
          const spec = (m[1] ?? m[2])!;
          if (spec.startsWith('.') || spec.startsWith('node:')) continue;
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
          if (!allowed.has(name)) offenders.add(`${name} (${path.relative(work, file)})`);
        }
      }
      assert.deepEqual([...offenders], []);
    });

    it('serves from exactly what the image copies: dist, prisma/schema.prisma, prisma/migrations, openapi.yaml, package.json', async () => {
      for (const [k, v] of runtime!) if (k === 'COPY') assert.match(v, /--from=build/);
      mkdirSync(path.join(work, 'prisma'));
      cpSync(path.join(root, 'prisma/schema.prisma'), path.join(work, 'prisma/schema.prisma'));
      cpSync(path.join(root, 'prisma/migrations'), path.join(work, 'prisma/migrations'), { recursive: true });
      cpSync(path.join(root, 'package.json'), path.join(work, 'package.json'));
      cpSync(path.join(root, 'openapi.yaml'), path.join(work, 'openapi.yaml'));
      symlinkSync(path.join(root, 'node_modules'), path.join(work, 'node_modules'));
      const port = await new Promise<number>((resolve) => {
        const probe = net.createServer().listen(0, '127.0.0.1', () => {
          const { port: p } = probe.address() as net.AddressInfo;
          probe.close(() => resolve(p));
        });
      });
      const child = spawn(process.execPath, ['dist/main.js'], {
        cwd: work,
        env: {
          PATH: process.env.PATH, NODE_ENV: 'production', PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: db.url,
          KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex'), BOOTSTRAP_ADMIN_CLIENT_SECRET: randomBytes(32).toString('base64url'), LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
      try {
        let ready = false;
        // Up to 60 s: by default the image runs one worker per CPU, each starting on a loaded machine.
        for (let i = 0; i < 600 && !ready && child.exitCode === null; i++) {
          await new Promise((r) => setTimeout(r, 100));
          ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
        }
        assert.ok(ready, `the image's start command became ready (stderr: ${stderr})`);
      } finally {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      assert.equal(child.exitCode, 0, 'SIGTERM ends the process cleanly');
    });
  });
});
