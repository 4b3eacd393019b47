import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, type K8sObject } from './kustomize.ts';

/**
 * The schemas the rendered objects are checked against: the kubernetes-models packages (the
 * Kubernetes OpenAPI schemas, and Istio's and the Prometheus operator's CRD schemas, compiled to
 * validators). Each package exports one module per API group and version, and in it one model
 * class per kind with its apiVersion and kind as static fields.
 */
const PACKAGES = ['kubernetes-models', '@kubernetes-models/istio', '@kubernetes-models/prometheus-operator'];

type ModelClass = { apiVersion: string; kind: string; new (data: unknown): { validate(): void } };
export type SchemaEntry = { model: ModelClass; module: string; exportName: string };

const require = createRequire(import.meta.url);

function isModelClass(value: unknown): value is ModelClass {
  return typeof value === 'function' && typeof (value as { apiVersion?: unknown }).apiVersion === 'string'
    && typeof (value as { kind?: unknown }).kind === 'string';
}

const manifests = new Map<string, Record<string, unknown>>();
const modules = new Map<string, Promise<Record<string, unknown>>>();

/**
 * The model class for apiVersion + kind, and the module whose TypeScript interface describes it.
 * Only the group/version module asked for is loaded ("apps/v1" -> kubernetes-models/apps/v1, the core
 * "v1" -> kubernetes-models/v1, "security.istio.io/v1" -> @kubernetes-models/istio/security.istio.io/v1).
 */
export async function schemaFor(apiVersion: string, kind: string): Promise<SchemaEntry | undefined> {
  for (const pkg of PACKAGES) {
    if (!manifests.has(pkg)) {
      manifests.set(pkg, (JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')) as { exports: Record<string, unknown> }).exports);
    }
    if (!(`./${apiVersion}` in manifests.get(pkg)!)) continue;
    const module = `${pkg}/${apiVersion}`;
    if (!modules.has(module)) modules.set(module, import(module) as Promise<Record<string, unknown>>);
    for (const [exportName, value] of Object.entries(await modules.get(module)!)) {
      if (isModelClass(value) && value.apiVersion === apiVersion && value.kind === kind) return { model: value, module, exportName };
    }
  }
  return undefined;
}

/** The schema's verdict on one object: undefined when valid, else what is wrong. */
export async function schemaProblem(object: K8sObject): Promise<string | undefined> {
  const entry = await schemaFor(object.apiVersion, object.kind);
  if (!entry) return `no schema for ${object.apiVersion} ${object.kind} (add the kubernetes-models package that has it)`;
  try {
    new entry.model(object).validate();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

const execFileAsync = promisify(execFile);

/**
 * The compiled validators accept fields that no schema declares, as the API server's lenient mode
 * does; a misspelt field (`requestPrincipal`) would pass them and be dropped at apply time. So every
 * object is also written out as a TypeScript object literal typed with the package's interface:
 * the compiler refuses any property the schema does not declare (excess property checks).
 * Returns the compiler's complaints, one line each, naming the object.
 */
export async function unknownFieldProblems(objects: Array<{ label: string; object: K8sObject }>): Promise<string[]> {
  // Inside the repository, so that the packages resolve from its node_modules.
  const cacheDir = path.join(ROOT, 'node_modules', '.cache');
  mkdirSync(cacheDir, { recursive: true });
  const dir = mkdtempSync(path.join(cacheDir, 'deploy-field-check-'));
  try {
    const imports = new Map<string, Set<string>>();
    const lines: string[] = [];
    const labels: string[] = [];
    for (const [i, { label, object }] of objects.entries()) {
      const entry = await schemaFor(object.apiVersion, object.kind);
      if (!entry) continue;
      const type = `I${entry.exportName}`;
      if (!imports.has(entry.module)) imports.set(entry.module, new Set());
      imports.get(entry.module)!.add(type);
      labels.push(label);
      lines.push(`// object ${i}: ${label}`, `export const o${i}: Known<${type}_${moduleAlias(entry.module)}> = ${JSON.stringify(object, null, 1)};`);
    }
    const header = [...imports].map(([module, types]) =>
      `import type { ${[...types].map((t) => `${t} as ${t}_${moduleAlias(module)}`).join(', ')} } from '${module}';`);
    const file = path.join(dir, 'objects.ts');
    const source = [...header, ...KNOWN_FIELDS, ...lines].join('\n');
    writeFileSync(file, source);
    writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'es2023', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: true, types: [] },
      files: ['objects.ts'],
    }));
    const tsc = path.join(ROOT, 'node_modules', '.bin', 'tsc');
    try {
      await execFileAsync(tsc, ['-p', path.join(dir, 'tsconfig.json')], { cwd: dir, maxBuffer: 16 * 1024 * 1024 });
      return [];
    } catch (error) {
      const output = `${(error as { stdout?: string }).stdout ?? ''}${(error as { stderr?: string }).stderr ?? ''}`;
      const sourceLines = source.split('\n');
      return output.split('\n').filter((l) => l.includes('error TS')).map((l) => {
        // objects.ts(LINE,COL): error TS…: locate the object the line belongs to.
        const line = Number(/\((\d+),\d+\)/.exec(l)?.[1] ?? 0);
        const owner = sourceLines.slice(0, line).reverse().find((s) => s.startsWith('// object '));
        return `${owner?.replace(/^\/\/ object \d+: /, '') ?? '?'}: ${l.replace(/^.*error (TS\d+): /, '$1 ')}`;
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The schema's fields, all optional (required fields are the validators' business), through the
 * unions and intersections the CRD schemas compile to (oneOf): the compiler then checks every
 * nested literal against the fields of every variant together.
 */
const KNOWN_FIELDS = [
  'type KeysOf<T> = T extends unknown ? keyof T : never;',
  'type ValueOf<T, K extends PropertyKey> = T extends unknown ? (K extends keyof T ? T[K] : never) : never;',
  'type Known<T> = T extends ReadonlyArray<unknown> ? Array<Known<T[number]>> : [T] extends [object] ? { [K in KeysOf<T>]?: Known<ValueOf<T, K>> } : T;',
];

function moduleAlias(module: string): string {
  return module.replace(/[^A-Za-z0-9]/g, '_');
}
