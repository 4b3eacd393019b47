// `prisma generate` for both databases, with no download. Generation needs no native engine, but
// Prisma's command line looks for the schema-engine binary first and would fetch it from Prisma's
// own host (unreachable here and in many CI sandboxes). Pointing PRISMA_SCHEMA_ENGINE_BINARY at a
// stub satisfies that check; migrations never use the binary (src/persistence/migrations.ts applies
// them with the WebAssembly schema engine).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot, providers, schemaFor } from '../src/persistence/prisma-schema.ts';

const stub = path.join(projectRoot, 'scripts/schema-engine-stub.sh');
const outDir = path.join(projectRoot, 'prisma/.generated-schemas');
mkdirSync(outDir, { recursive: true });
for (const provider of providers) {
  const schemaFile = path.join(outDir, `${provider}.prisma`);
  // Output paths in a schema are relative to its folder, one level below prisma/.
  writeFileSync(schemaFile, schemaFor(provider).replaceAll('"../src/generated/', '"../../src/generated/'));
  execFileSync(path.join(projectRoot, 'node_modules/.bin/prisma'), ['generate', '--schema', schemaFile], {
    cwd: projectRoot,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: stub, PRISMA_HIDE_UPDATE_MESSAGE: '1' },
  });
}
