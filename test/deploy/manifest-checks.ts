import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { configSchema } from '../../src/config/config-schema.ts';
import { ofKind, ROOT, type K8sObject } from './kustomize.ts';

/**
 * What the kit must say for the service to run as its own configuration and image expect. Each
 * check returns the problems it found (empty: none), so that a test can also show it fails on a
 * broken object (manifests.test.ts mutates rendered objects to prove that).
 */

export const IMAGE_NAME = 'identity-backend';
export const SERVICE_CONTAINER = 'identity-backend';
export const MIGRATE_CONTAINER = 'migrate';
/** The routes of identity-backend that take no token (one gets tokens there); every other rule must require one. */
export const TOKENLESS_PATHS = ['/token', '/introspect', '/revoke', '/.well-known/*', '/docs', '/docs/*', '/openapi.yaml'];
/** Istio's InboundPassthroughBindIpv4/Ipv6: the sidecar's source address towards the application. */
export const SIDECAR_SOURCES = ['127.0.0.6', '::6'];

type Env = { name: string; value?: string; valueFrom?: { configMapKeyRef?: KeyRef; secretKeyRef?: KeyRef } };
type KeyRef = { name: string; key: string; optional?: boolean };
type Probe = { httpGet?: { path?: string; port?: string | number } };
export type Container = {
  name: string; image?: string; command?: string[]; env?: Env[];
  ports?: Array<{ name?: string; containerPort: number }>;
  livenessProbe?: Probe; readinessProbe?: Probe; startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] }; runAsNonRoot?: boolean; runAsUser?: number };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
};
type PodSpec = {
  containers: Container[]; initContainers?: Container[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; runAsGroup?: number; seccompProfile?: { type?: string } };
  volumes?: Array<{ name: string; persistentVolumeClaim?: { claimName: string }; configMap?: { name: string }; emptyDir?: object }>;
};
export type DeploymentObject = K8sObject & {
  spec: { replicas?: number; strategy?: { type?: string }; selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec } };
};

/** The Dockerfile's runtime stage: EXPOSE, USER, and the ENV defaults. */
export function dockerfileFacts(text = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')) {
  const lines = text.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const runtime = lines.slice(lines.map((l) => /^FROM\s/i.test(l)).lastIndexOf(true));
  const from = runtime[0]!.split(/\s+/)[1]!;
  const expose = runtime.filter((l) => /^EXPOSE\s/i.test(l)).flatMap((l) => l.split(/\s+/).slice(1)).map((p) => Number(p.replace(/\/tcp$/, '')));
  const user = runtime.filter((l) => /^USER\s/i.test(l)).at(-1)?.split(/\s+/)[1];
  const env: Record<string, string> = {};
  for (const l of runtime.filter((x) => /^ENV\s/i.test(x))) {
    for (const m of l.slice(4).matchAll(/([A-Z_][A-Z0-9_]*)=("[^"]*"|\S+)/g)) env[m[1]!] = m[2]!.replace(/^"|"$/g, '');
  }
  return { from, expose, user, env };
}

/**
 * The uid and gid of the image's USER. The official node images create `node` as 1000:1000; a
 * numeric USER is taken as it is. Anything else is unknown here, and the check says so.
 */
export function imageUser(user: string | undefined, from: string): { uid: number; gid: number } | undefined {
  if (user && /^\d+(:\d+)?$/.test(user)) {
    const [uid, gid] = user.split(':').map(Number);
    return { uid: uid!, gid: gid ?? uid! };
  }
  if (user === 'node' && /^node:/.test(from)) return { uid: 1000, gid: 1000 };
  return undefined;
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

export function serviceDeployments(objects: K8sObject[]): DeploymentObject[] {
  return (ofKind(objects, 'Deployment') as DeploymentObject[]).filter((d) =>
    d.spec.template.spec.containers.some((c) => imageBase(c.image) === IMAGE_NAME));
}

function imageBase(image: string | undefined): string | undefined {
  if (!image) return undefined;
  const withoutDigest = image.split('@')[0]!;
  const lastSlash = withoutDigest.lastIndexOf('/');
  const nameAndTag = withoutDigest.slice(lastSlash + 1);
  return nameAndTag.split(':')[0];
}

export function envOf(container: Container | undefined, name: string): Env | undefined {
  return container?.env?.find((e) => e.name === name);
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  return !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The literal value of an environment variable, following a configMapKeyRef into the rendering. */
export function literalEnv(objects: K8sObject[], env: Env | undefined): string | undefined {
  if (!env) return undefined;
  if (env.value !== undefined) return env.value;
  const ref = env.valueFrom?.configMapKeyRef;
  if (!ref) return undefined;
  const map = ofKind(objects, 'ConfigMap', ref.name)[0] as (K8sObject & { data?: Record<string, string> }) | undefined;
  return map?.data?.[ref.key];
}

/**
 * The environment a container would get, as the service reads it: literals as they are,
 * ConfigMap keys from the rendering, Secret keys from `secrets` ("<secret>/<key>"; an optional
 * key that is not there is left out, as Kubernetes does). Throws on a reference nothing satisfies.
 */
export function resolveEnv(objects: K8sObject[], container: Container, secrets: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    const secret = e.valueFrom?.secretKeyRef;
    if (secret) {
      const value = secrets[`${secret.name}/${secret.key}`];
      if (value !== undefined) env[e.name] = value;
      else if (!secret.optional) throw new Error(`${container.name}: ${e.name} needs Secret key ${secret.name}/${secret.key}`);
      continue;
    }
    const value = literalEnv(objects, e);
    if (value === undefined) {
      if (e.valueFrom?.configMapKeyRef?.optional) continue;
      throw new Error(`${container.name}: ${e.name} resolves to nothing in the rendering`);
    }
    env[e.name] = value;
  }
  return env;
}

const sameSource = (a: Env | undefined, b: Env | undefined) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** The Deployment of the service: image, environment, ports, probes, security, storage. */
export function checkServiceDeployment(objects: K8sObject[], deployment: DeploymentObject): string[] {
  const problems: string[] = [];
  const docker = dockerfileFacts();
  const version = packageVersion();
  const known = new Set(Object.keys(configSchema.shape));
  const pod = deployment.spec.template.spec;
  const main = pod.containers.find((c) => c.name === SERVICE_CONTAINER);
  if (!main) return [`no container named ${SERVICE_CONTAINER}`];
  const migrate = pod.initContainers?.find((c) => c.name === MIGRATE_CONTAINER);
  const ours = [main, ...(migrate ? [migrate] : [])];

  for (const c of ours) {
    const [, tag] = (c.image ?? '').split('@')[0]!.split(/:(?=[^/]*$)/);
    if (imageBase(c.image) !== IMAGE_NAME) problems.push(`${c.name}: image ${c.image} is not ${IMAGE_NAME}`);
    if (!c.image?.includes('@') && tag !== version) problems.push(`${c.name}: image tag ${tag} is not package.json's version ${version}`);
    if (c.image !== main.image) problems.push(`${c.name}: image ${c.image} differs from the service container's ${main.image}`);
    for (const e of c.env ?? []) if (!known.has(e.name)) problems.push(`${c.name}: ${e.name} is not a variable the service reads (src/config/config-schema.ts)`);
    const sc = c.securityContext ?? {};
    if (sc.readOnlyRootFilesystem !== true) problems.push(`${c.name}: readOnlyRootFilesystem is not true`);
    if (sc.allowPrivilegeEscalation !== false) problems.push(`${c.name}: allowPrivilegeEscalation is not false`);
    if (!sc.capabilities?.drop?.includes('ALL')) problems.push(`${c.name}: capabilities are not all dropped`);
    if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory) problems.push(`${c.name}: cpu/memory requests and a memory limit are required`);
    if (!c.volumeMounts?.some((m) => m.mountPath === '/tmp')) problems.push(`${c.name}: /tmp is not a writable volume`);
    for (const name of ['TLS_CERT_FILE', 'TLS_KEY_FILE', 'TLS_CLIENT_CA_FILE']) {
      const file = literalEnv(objects, envOf(c, name));
      if (file && !c.volumeMounts?.some((m) => file.startsWith(`${m.mountPath.replace(/\/$/, '')}/`))) problems.push(`${c.name}: ${name}=${file} is on no mounted volume`);
    }
    const kek = envOf(c, 'KEY_ENCRYPTION_KEY');
    if (!kek?.valueFrom?.secretKeyRef || kek.valueFrom.secretKeyRef.optional) problems.push(`${c.name}: KEY_ENCRYPTION_KEY must come from a (required) Secret key`);
    const database = envOf(c, 'DATABASE_URL');
    if (database?.value !== undefined && !database.value.startsWith('file:')) problems.push(`${c.name}: a database URL other than a file: must come from a Secret`);
    if (envOf(c, 'NODE_ENV')?.value !== 'production') problems.push(`${c.name}: NODE_ENV is not production`);
  }

  // ISSUER: required, from a value or a ConfigMap key that the rendering has, and a valid issuer.
  const issuerEnv = envOf(main, 'ISSUER');
  const issuer = literalEnv(objects, issuerEnv);
  if (!issuerEnv) problems.push('ISSUER is not set: every replica must name the same issuer');
  else if (issuerEnv.valueFrom?.configMapKeyRef?.optional) problems.push('ISSUER must not be optional');
  else if (issuer === undefined) problems.push('ISSUER refers to a ConfigMap key the rendering does not have');
  else if (!configSchema.shape.ISSUER.safeParse(issuer).success) problems.push(`ISSUER "${issuer}" is not a valid issuer`);

  const bootstrap = envOf(main, 'BOOTSTRAP_ADMIN_CLIENT_SECRET');
  if (!bootstrap?.valueFrom?.secretKeyRef) problems.push('BOOTSTRAP_ADMIN_CLIENT_SECRET must come from a Secret: otherwise the first start prints the generated secret into the pod log');

  // The migration step sees the database the service sees.
  if (!migrate) problems.push(`no ${MIGRATE_CONTAINER} init container`);
  else {
    if (JSON.stringify(migrate.command) !== JSON.stringify(['node', 'dist/migrate.js'])) problems.push(`${MIGRATE_CONTAINER}: command is not node dist/migrate.js`);
    if (!existsSync(path.join(ROOT, 'src/migrate.ts'))) problems.push('src/migrate.ts (dist/migrate.js in the image) does not exist');
    for (const name of ['DATABASE_URL', 'KEY_ENCRYPTION_KEY', 'ISSUER']) {
      if (!sameSource(envOf(migrate, name), envOf(main, name))) problems.push(`${MIGRATE_CONTAINER}: ${name} differs from the service container's`);
    }
  }

  // Ports: PORT is the Dockerfile's EXPOSE and the container port "http"; METRICS_PORT is "metrics".
  const port = Number(literalEnv(objects, envOf(main, 'PORT')) ?? docker.env.PORT);
  const http = main.ports?.find((p) => p.name === 'http')?.containerPort;
  if (http !== port) problems.push(`container port "http" (${http}) is not PORT (${port})`);
  if (!docker.expose.includes(port)) problems.push(`PORT ${port} is not the Dockerfile's EXPOSE (${docker.expose.join(', ')})`);
  const metricsPort = literalEnv(objects, envOf(main, 'METRICS_PORT'));
  const metrics = main.ports?.find((p) => p.name === 'metrics')?.containerPort;
  if (metricsPort === undefined) problems.push('METRICS_PORT is not set: /metrics (client ids in its labels) would be on PORT, which every pod may reach');
  else if (Number(metricsPort) !== metrics) problems.push(`container port "metrics" (${metrics}) is not METRICS_PORT (${metricsPort})`);

  // Probes: liveness and start-up on /healthz, readiness on /readyz, all on the service's port.
  const probes: Array<[string, Probe | undefined, string]> = [
    ['livenessProbe', main.livenessProbe, '/healthz'], ['startupProbe', main.startupProbe, '/healthz'], ['readinessProbe', main.readinessProbe, '/readyz'],
  ];
  for (const [name, probe, expected] of probes) {
    if (probe?.httpGet?.path !== expected) problems.push(`${name} path is ${probe?.httpGet?.path}, not ${expected}`);
    const probePort = probe?.httpGet?.port;
    if (probePort !== 'http' && probePort !== port) problems.push(`${name} port ${probePort} is not the service port`);
  }

  // Non-root, as the image's USER.
  const user = imageUser(docker.user, docker.from);
  const psc = pod.securityContext ?? {};
  if (psc.runAsNonRoot !== true) problems.push('runAsNonRoot is not true');
  if (!user) problems.push(`the Dockerfile's USER ${docker.user} has no known uid`);
  else if ((psc.runAsUser ?? main.securityContext?.runAsUser) !== user.uid) problems.push(`runAsUser is not ${user.uid} (the image's USER ${docker.user})`);
  if (psc.seccompProfile?.type !== 'RuntimeDefault') problems.push('seccompProfile is not RuntimeDefault');

  // Storage and replicas: a SQLite file lives on a claim, with one replica replaced by Recreate;
  // several replicas (or an autoscaler) need a database server.
  // Unset, the image's default (a SQLite file) applies; from a Secret, it is a database server.
  const databaseEnv = envOf(main, 'DATABASE_URL');
  const database = databaseEnv ? literalEnv(objects, databaseEnv) : docker.env.DATABASE_URL;
  const autoscaled = ofKind(objects, 'HorizontalPodAutoscaler').some((h) =>
    (h.spec as { scaleTargetRef?: { kind?: string; name?: string } }).scaleTargetRef?.name === deployment.metadata.name);
  if (database?.startsWith('file:')) {
    const dir = path.posix.dirname(database.slice('file:'.length));
    const mount = main.volumeMounts?.find((m) => m.mountPath.replace(/\/$/, '') === dir);
    const volume = pod.volumes?.find((v) => v.name === mount?.name);
    if (!volume?.persistentVolumeClaim || !ofKind(objects, 'PersistentVolumeClaim', volume.persistentVolumeClaim.claimName).length) {
      problems.push(`the SQLite file ${database} is not on a PersistentVolumeClaim of the rendering`);
    }
    if ((deployment.spec.replicas ?? 1) !== 1 || autoscaled) problems.push('SQLite serves one replica: replicas must be 1 and no autoscaler may target it');
    if (deployment.spec.strategy?.type !== 'Recreate') problems.push('SQLite: the strategy must be Recreate, so two pods never open the file together');
  } else {
    const minimum = autoscaled
      ? Math.min(...ofKind(objects, 'HorizontalPodAutoscaler').map((h) => (h.spec as { minReplicas?: number }).minReplicas ?? 1))
      : deployment.spec.replicas ?? 1;
    if (minimum < 2) problems.push('a database server deployment runs at least two replicas');
  }

  // Service, PodDisruptionBudget, autoscaler and NetworkPolicy all select these pods.
  const labels = deployment.spec.template.metadata.labels;
  const containerPorts = new Set(main.ports?.flatMap((p) => [p.name, p.containerPort]));
  const services = ofKind(objects, 'Service').filter((s) => selects((s.spec as { selector?: Record<string, string> }).selector, labels));
  if (!services.length) problems.push('no Service selects the pods');
  for (const s of services) {
    for (const p of (s.spec as { ports: Array<{ name?: string; targetPort?: string | number }> }).ports) {
      if (!containerPorts.has(p.targetPort ?? '')) problems.push(`Service ${s.metadata.name} port ${p.name}: targetPort ${p.targetPort} is no container port`);
    }
  }
  if (!ofKind(objects, 'PodDisruptionBudget').some((p) => selects((p.spec as { selector?: { matchLabels?: Record<string, string> } }).selector?.matchLabels, labels))) {
    problems.push('no PodDisruptionBudget selects the pods');
  }
  problems.push(...checkNetworkPolicy(objects, labels, main));
  return problems;
}

type NetworkPeer = { namespaceSelector?: { matchLabels?: Record<string, string> }; podSelector?: { matchLabels?: Record<string, string> }; ipBlock?: { cidr: string } };

/** Ingress to the pods: the service port from the cluster, METRICS_PORT from named peers only. */
export function checkNetworkPolicy(objects: K8sObject[], labels: Record<string, string>, main: Container): string[] {
  const policies = ofKind(objects, 'NetworkPolicy').filter((n) => selects((n.spec as { podSelector?: { matchLabels?: Record<string, string> } }).podSelector?.matchLabels, labels));
  if (!policies.length) return ['no NetworkPolicy selects the pods'];
  const problems: string[] = [];
  const metricsNames = new Set<string | number>(['metrics', ...(main.ports?.filter((p) => p.name === 'metrics').map((p) => p.containerPort) ?? [])]);
  let httpAllowed = false;
  let metricsAllowed = false;
  for (const policy of policies) {
    const spec = policy.spec as { policyTypes?: string[]; ingress?: Array<{ from?: NetworkPeer[]; ports?: Array<{ port?: string | number }> }> };
    if (!spec.policyTypes?.includes('Ingress')) problems.push(`NetworkPolicy ${policy.metadata.name} does not restrict ingress`);
    for (const rule of spec.ingress ?? []) {
      const ports = rule.ports?.map((p) => p.port);
      if (!ports?.length) {
        problems.push(`NetworkPolicy ${policy.metadata.name}: a rule without ports opens every port, METRICS_PORT included`);
        continue;
      }
      if (ports.some((p) => p === 'http')) httpAllowed = true;
      if (ports.some((p) => p !== undefined && metricsNames.has(p))) {
        metricsAllowed = true;
        const open = !rule.from?.length || rule.from.some((peer) => !peer.podSelector?.matchLabels || (peer.ipBlock?.cidr ?? '').endsWith('/0'));
        if (open) problems.push(`NetworkPolicy ${policy.metadata.name}: METRICS_PORT is open to more than named pods`);
      }
    }
  }
  if (!httpAllowed) problems.push('no NetworkPolicy rule admits the service port');
  if (!metricsAllowed) problems.push('no NetworkPolicy rule admits Prometheus to METRICS_PORT');
  return problems;
}

type Source = { principals?: string[]; requestPrincipals?: string[]; notRequestPrincipals?: string[]; namespaces?: string[] };
type Rule = { from?: Array<{ source?: Source }>; to?: Array<{ operation?: { paths?: string[]; methods?: string[] } }>; when?: Array<{ key: string; values?: string[] }> };
type JwtRule = { issuer?: string; jwksUri?: string; audiences?: string[] };

function selectorOf(o: K8sObject): string {
  return JSON.stringify((o.spec as { selector?: { matchLabels?: Record<string, string> } }).selector?.matchLabels ?? {});
}

/**
 * Every ALLOW rule requires a token (requestPrincipals of an issuer a RequestAuthentication of the
 * same workload checks), pins an audience that RequestAuthentication accepts, and checks a scope;
 * the only exception is identity-backend's own token-less endpoints (TOKENLESS_PATHS).
 */
export function checkAuthorizationPolicies(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const policy of ofKind(objects, 'AuthorizationPolicy')) {
    const spec = policy.spec as { action?: string; rules?: Rule[] };
    if ((spec.action ?? 'ALLOW') !== 'ALLOW') continue;
    const name = `AuthorizationPolicy ${policy.metadata.name}`;
    // Only identity-backend's own policy may leave its token endpoint and discovery documents open.
    const ownPolicy = (policy.spec as { selector?: { matchLabels?: Record<string, string> } }).selector?.matchLabels?.['app.kubernetes.io/name'] === IMAGE_NAME;
    const authn = ofKind(objects, 'RequestAuthentication').filter((r) => selectorOf(r) === selectorOf(policy) && r.metadata.namespace === policy.metadata.namespace);
    const jwtRules = authn.flatMap((r) => (r.spec as { jwtRules?: JwtRule[] }).jwtRules ?? []);
    if (!spec.rules?.length) problems.push(`${name}: no rules (an ALLOW policy without rules refuses everything)`);
    for (const [i, rule] of (spec.rules ?? []).entries()) {
      const paths = (rule.to ?? []).flatMap((t) => t.operation?.paths ?? []);
      const tokenless = ownPolicy && paths.length > 0 && (rule.to ?? []).every((t) => (t.operation?.paths ?? []).length > 0)
        && paths.every((p) => TOKENLESS_PATHS.includes(p));
      if (tokenless) continue;
      const sources = (rule.from ?? []).map((f) => f.source ?? {});
      if (!sources.length || sources.some((s) => !s.requestPrincipals?.length)) {
        problems.push(`${name} rule ${i}: every source must name requestPrincipals (a request without a token must not match)`);
        continue;
      }
      for (const principal of sources.flatMap((s) => s.requestPrincipals ?? [])) {
        if (!jwtRules.some((j) => j.issuer && principal.startsWith(`${j.issuer}/`))) {
          problems.push(`${name} rule ${i}: request principal ${principal} is of no issuer a RequestAuthentication of this workload checks`);
        }
      }
      const audiences = rule.when?.find((w) => w.key === 'request.auth.audiences')?.values;
      if (!audiences?.length) problems.push(`${name} rule ${i}: no request.auth.audiences condition pins the audience`);
      else if (!audiences.every((a) => jwtRules.some((j) => j.audiences?.includes(a)))) problems.push(`${name} rule ${i}: audience ${audiences.join(', ')} is not one the RequestAuthentication accepts`);
      const scopes = rule.when?.find((w) => w.key === 'request.auth.claims[scope]')?.values;
      if (!scopes?.length) problems.push(`${name} rule ${i}: no request.auth.claims[scope] condition`);
      else if (scopes.some((s) => /\s/.test(s))) problems.push(`${name} rule ${i}: a scope value holds a space; Istio matches single scopes of the split claim`);
    }
  }
  for (const authn of ofKind(objects, 'RequestAuthentication')) {
    for (const rule of (authn.spec as { jwtRules?: JwtRule[] }).jwtRules ?? []) {
      if (!rule.issuer || !rule.jwksUri) problems.push(`RequestAuthentication ${authn.metadata.name}: issuer and jwksUri are required`);
      else if (new URL(rule.jwksUri).pathname !== '/.well-known/jwks.json') problems.push(`RequestAuthentication ${authn.metadata.name}: jwksUri ${rule.jwksUri} is not the service's JWKS`);
      if (!rule.audiences?.length) problems.push(`RequestAuthentication ${authn.metadata.name}: no audiences (tokens for any service would be accepted)`);
    }
  }
  return problems;
}

/**
 * identity-backend's own mesh settings: its RequestAuthentication names its ISSUER and its Service's
 * JWKS, and the XFCC settings of the sidecar match the ones the service is told to expect.
 */
export function checkMeshSettings(objects: K8sObject[], deployment: DeploymentObject): string[] {
  const problems: string[] = [];
  const main = deployment.spec.template.spec.containers.find((c) => c.name === SERVICE_CONTAINER)!;
  const { labels, annotations = {} } = deployment.spec.template.metadata;
  if (labels['sidecar.istio.io/inject'] !== 'true') return problems;
  const issuer = literalEnv(objects, envOf(main, 'ISSUER'));
  const service = ofKind(objects, 'Service').find((s) => selects((s.spec as { selector?: Record<string, string> }).selector, labels));
  const servicePort = (service?.spec as { ports?: Array<{ name?: string; port: number }> } | undefined)?.ports?.find((p) => p.name === 'http')?.port;
  const ns = deployment.metadata.namespace;
  const ownAuthn = ofKind(objects, 'RequestAuthentication').filter((r) => selects((r.spec as { selector?: { matchLabels?: Record<string, string> } }).selector?.matchLabels, labels));
  if (!ownAuthn.length) problems.push('no RequestAuthentication for the admin tokens of the service');
  for (const r of ownAuthn) {
    for (const rule of (r.spec as { jwtRules?: JwtRule[] }).jwtRules ?? []) {
      if (rule.issuer !== issuer) problems.push(`RequestAuthentication ${r.metadata.name}: issuer ${rule.issuer} is not ISSUER ${issuer}`);
      if (!rule.audiences?.includes(`${issuer}/admin`)) problems.push(`RequestAuthentication ${r.metadata.name}: does not accept the admin audience ${issuer}/admin`);
      const expected = `http://${service?.metadata.name}.${ns}.svc.cluster.local:${servicePort}/.well-known/jwks.json`;
      if (rule.jwksUri !== expected) problems.push(`RequestAuthentication ${r.metadata.name}: jwksUri ${rule.jwksUri} is not the Service's ${expected}`);
    }
  }
  const adminRules = ofKind(objects, 'AuthorizationPolicy').filter((p) => selects((p.spec as { selector?: { matchLabels?: Record<string, string> } }).selector?.matchLabels, labels))
    .flatMap((p) => (p.spec as { rules?: Rule[] }).rules ?? [])
    .filter((rule) => (rule.to ?? []).some((t) => (t.operation?.paths ?? []).some((p) => p.startsWith('/admin'))));
  if (!adminRules.length) problems.push('no AuthorizationPolicy rule covers /admin');
  for (const rule of adminRules) {
    if (!rule.when?.some((w) => w.key === 'request.auth.audiences' && w.values?.length === 1 && w.values[0] === `${issuer}/admin`)) problems.push('the /admin rule does not pin the admin audience');
    if (!(rule.from ?? []).every((f) => f.source?.namespaces?.length || f.source?.principals?.length)) problems.push('the /admin rule admits workloads of any namespace');
  }
  if (!ofKind(objects, 'PeerAuthentication').some((p) => selects((p.spec as { selector?: { matchLabels?: Record<string, string> } }).selector?.matchLabels, labels)
    && (p.spec as { mtls?: { mode?: string } }).mtls?.mode === 'STRICT')) {
    problems.push('no STRICT PeerAuthentication: a plaintext peer could reach the service port');
  }
  // The service's port must stay behind the sidecar; only METRICS_PORT may bypass it.
  const port = literalEnv(objects, envOf(main, 'PORT'));
  const excluded = (annotations['traffic.sidecar.istio.io/excludeInboundPorts'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (port && excluded.includes(port)) problems.push(`PORT ${port} is excluded from the sidecar: any pod could send its own x-forwarded-client-cert`);
  const metricsPort = literalEnv(objects, envOf(main, 'METRICS_PORT'));
  if (metricsPort && annotations['prometheus.istio.io/merge-metrics'] !== 'false' && !excluded.includes(metricsPort)) {
    problems.push('METRICS_PORT is neither excluded from the sidecar nor kept out of Istio\'s metrics merging');
  }
  if (deployment.spec.template.spec.initContainers?.length && annotations['sidecar.istio.io/nativeSidecar'] !== 'true') {
    problems.push('init containers run before a classic sidecar, and its iptables rules send their connections nowhere: set sidecar.istio.io/nativeSidecar');
  }

  if (literalEnv(objects, envOf(main, 'RATE_LIMIT_TOKEN_PER_ADDRESS')) !== '0') {
    problems.push('RATE_LIMIT_TOKEN_PER_ADDRESS is not 0: behind the sidecar every request has the address 127.0.0.6, so the limit would be one budget for the whole mesh');
  }
  if (literalEnv(objects, envOf(main, 'TRUSTED_CLIENT_CERT_HEADER')) === 'x-forwarded-client-cert') {
    const config = (parse(annotations['proxy.istio.io/config'] ?? '') ?? {}) as { proxyHeaders?: { forwardedClientCert?: string; setCurrentClientCertDetails?: { cert?: boolean } } };
    const mode = config.proxyHeaders?.forwardedClientCert;
    const elements = literalEnv(objects, envOf(main, 'TRUSTED_CLIENT_CERT_ELEMENTS')) ?? '1';
    if (elements === '1' && mode !== 'SANITIZE_SET') problems.push(`TRUSTED_CLIENT_CERT_ELEMENTS=1 needs the sidecar's forwardedClientCert SANITIZE_SET, not ${mode ?? 'the default APPEND_FORWARD'}`);
    if (elements === 'last' && mode !== 'APPEND_FORWARD' && mode !== undefined) problems.push(`TRUSTED_CLIENT_CERT_ELEMENTS=last goes with APPEND_FORWARD, not ${mode}`);
    const trustIdentity = literalEnv(objects, envOf(main, 'TRUST_PROXY_VERIFIED_IDENTITY')) === 'true';
    if (!trustIdentity && config.proxyHeaders?.setCurrentClientCertDetails?.cert !== true) problems.push('the sidecar does not forward Cert, and TRUST_PROXY_VERIFIED_IDENTITY is false: every forwarded certificate would be refused');
    const proxies = (literalEnv(objects, envOf(main, 'TRUSTED_CLIENT_CERT_PROXIES')) ?? '').split(',').map((s) => s.trim().replace(/\/(32|128)$/, ''));
    if (proxies.some((p) => !SIDECAR_SOURCES.includes(p))) problems.push(`TRUSTED_CLIENT_CERT_PROXIES ${proxies.join(',')} trusts more than the sidecar (${SIDECAR_SOURCES.join(', ')})`);
    const ca = literalEnv(objects, envOf(main, 'TLS_CLIENT_CA_FILE'));
    const caMount = main.volumeMounts?.find((m) => ca?.startsWith(`${m.mountPath}/`));
    const caVolume = deployment.spec.template.spec.volumes?.find((v) => v.name === caMount?.name);
    if (!trustIdentity && caVolume?.configMap?.name !== 'istio-ca-root-cert') problems.push('TLS_CLIENT_CA_FILE is not the mesh root (ConfigMap istio-ca-root-cert)');
  }
  return problems;
}
