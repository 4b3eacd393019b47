import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const DEPLOY_DIR = path.join(ROOT, 'deploy');

/** One rendered Kubernetes object, as plain JSON. */
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
};

/** Why the kit's tests cannot run here, or undefined when `kubectl kustomize` is available. */
export function kubectlMissing(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const probe = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8', env });
  if (probe.error || probe.status !== 0) {
    return `kubectl is not installed (or does not run): the deploy/ kit is rendered with "kubectl kustomize"; install kubectl to run these tests (${probe.error?.message ?? probe.stderr.trim()})`;
  }
  return undefined;
}

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

export type Kustomization = {
  /** Relative to the repository root, e.g. deploy/overlays/sqlite. */
  dir: string;
  kind: 'Kustomization' | 'Component';
  /** The directories it builds on (resources and components that are directories), relative to the repository root. */
  includes: string[];
};

function readKustomization(dir: string): Kustomization | undefined {
  const file = KUSTOMIZATION_FILES.map((f) => path.join(dir, f)).find((f) => existsSync(f));
  if (!file) return undefined;
  const doc = parse(readFileSync(file, 'utf8')) as { kind?: string; resources?: string[]; components?: string[]; bases?: string[] } | null;
  const refs = [...(doc?.resources ?? []), ...(doc?.bases ?? []), ...(doc?.components ?? [])];
  const includes = refs
    .map((ref) => path.resolve(dir, ref))
    .filter((target) => existsSync(target) && statSync(target).isDirectory())
    .map((target) => path.relative(ROOT, target));
  return { dir: path.relative(ROOT, dir), kind: doc?.kind === 'Component' ? 'Component' : 'Kustomization', includes };
}

/** Every kustomization under deploy/, found by walking the tree (nothing is listed by hand). */
export function findKustomizations(base = DEPLOY_DIR): Kustomization[] {
  const found: Kustomization[] = [];
  const walk = (dir: string) => {
    const k = readKustomization(dir);
    if (k) found.push(k);
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) walk(path.join(dir, entry.name));
  };
  walk(base);
  return found.sort((a, b) => a.dir.localeCompare(b.dir));
}

/**
 * What an operator applies: every kustomization but a Component (which cannot be built alone) and
 * a directory named base (kustomize's convention for what overlays build on, incomplete alone).
 */
export function deployableKustomizations(all = findKustomizations()): Kustomization[] {
  return all.filter((k) => k.kind === 'Kustomization' && path.basename(k.dir) !== 'base');
}

export function render(dir: string): K8sObject[] {
  const text = execFileSync('kubectl', ['kustomize', path.resolve(ROOT, dir)], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length) throw new Error(`${dir}: ${doc.errors[0]!.message}`);
    return doc.toJSON() as K8sObject;
  }).filter(Boolean);
}

/** Objects of one kind (and name). */
export function ofKind(objects: K8sObject[], kind: string, name?: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}
