import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { createPki, type Pki } from '../helpers/pki.ts';
import { startTestService, type TestService } from '../helpers/start-app.ts';
import { deployableKustomizations, findKustomizations, kubectlMissing, ofKind, render, type K8sObject } from './kustomize.ts';
import {
  checkAuthorizationPolicies, checkMeshSettings, checkServiceDeployment, envOf, literalEnv, MIGRATE_CONTAINER, resolveEnv,
  SERVICE_CONTAINER, serviceDeployments, type DeploymentObject,
} from './manifest-checks.ts';
import { schemaProblem, unknownFieldProblems } from './schemas.ts';

const SKIP = kubectlMissing();
const all = SKIP ? [] : findKustomizations();
const deployable = deployableKustomizations(all);
const rendered = new Map<string, K8sObject[]>(SKIP ? [] : all.filter((k) => k.kind === 'Kustomization').map((k) => [k.dir, render(k.dir)]));
const objectsOf = (dir: string) => rendered.get(dir)!;

/** The Secret keys the kit refers to, with values of the right shape. */
const SECRETS = {
  'identity-backend-secrets/key-encryption-key': randomBytes(32).toString('hex'),
  'identity-backend-secrets/bootstrap-admin-client-secret': randomBytes(32).toString('base64url'),
  'identity-backend-secrets/database-url': 'postgresql://identity:secret@postgres.identity.svc:5432/identity',
};

const copy = <T>(value: T): T => structuredClone(value);

it('skips the kit\'s tests with the reason where kubectl is missing', () => {
  assert.match(kubectlMissing({ ...process.env, PATH: '/nonexistent' }) ?? '', /^kubectl is not installed .*install kubectl to run these tests/);
});

describe('the Kubernetes and Istio kit in deploy/', { skip: SKIP }, () => {
  // A CA certificate for loadConfig to read as TLS_CLIENT_CA_FILE, which in the cluster is the mesh root.
  let pki: Pki;
  before(() => {
    pki = createPki();
  });
  after(() => pki?.cleanup());

  it('finds the overlays and the example by walking deploy/, and every one renders objects', () => {
    const dirs = deployable.map((k) => k.dir);
    for (const expected of ['deploy/overlays/sqlite', 'deploy/overlays/postgresql', 'deploy/overlays/postgresql-istio', 'deploy/examples/istio-target-service']) {
      assert.ok(dirs.includes(expected), `${expected} is found (found: ${dirs.join(', ')})`);
    }
    assert.ok(all.some((k) => k.kind === 'Component'), 'the Istio component is found too');
    for (const dir of dirs) assert.ok(objectsOf(dir).length > 0, `${dir} renders objects`);
  });

  it('renders every kustomization, and every object passes its Kubernetes, Istio or Prometheus-operator schema', async () => {
    const problems: string[] = [];
    for (const [dir, objects] of rendered) {
      for (const o of objects) {
        const problem = await schemaProblem(o);
        if (problem) problems.push(`${dir} ${o.kind}/${o.metadata.name}: ${problem}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('uses no field that the schemas do not declare (a misspelt field would be dropped at apply time)', async () => {
    const objects = [...rendered].flatMap(([dir, list]) => list.map((object) => ({ label: `${dir} ${object.kind}/${object.metadata.name}`, object })));
    assert.deepEqual(await unknownFieldProblems(objects), []);
  });

  for (const { dir } of deployable) {
    const deployments = SKIP ? [] : serviceDeployments(objectsOf(dir));
    for (const deployment of deployments) {
      it(`${dir}: the Deployment agrees with the Dockerfile, package.json and the configuration schema`, () => {
        assert.deepEqual(checkServiceDeployment(objectsOf(dir), deployment), []);
        assert.deepEqual(checkMeshSettings(objectsOf(dir), deployment), []);
      });

      it(`${dir}: the service's own configuration loader accepts each container's environment`, () => {
        for (const container of [...deployment.spec.template.spec.containers, ...(deployment.spec.template.spec.initContainers ?? [])]) {
          if (container.name !== SERVICE_CONTAINER && container.name !== MIGRATE_CONTAINER) continue;
          const env = resolveEnv(objectsOf(dir), container, SECRETS);
          if (env.TLS_CLIENT_CA_FILE) env.TLS_CLIENT_CA_FILE = pki.ca1.certFile;
          const config = loadConfig(env);
          assert.equal(config.production, true);
          assert.equal(config.issuer, literalEnv(objectsOf(dir), envOf(container, 'ISSUER')));
          if (container.name === SERVICE_CONTAINER) {
            assert.equal(config.metricsPort, 9464);
            assert.equal(config.bootstrapAdmin.secret, SECRETS['identity-backend-secrets/bootstrap-admin-client-secret']);
          }
        }
      });
    }

    it(`${dir}: every AuthorizationPolicy requires a token of the issuer, pins the audience and checks a scope`, () => {
      assert.deepEqual(checkAuthorizationPolicies(objectsOf(dir)), []);
    });
  }

  it('the target-service example trusts the issuer and the JWKS of the Istio overlay', () => {
    const mesh = objectsOf('deploy/overlays/postgresql-istio');
    const [deployment] = serviceDeployments(mesh);
    const issuer = literalEnv(mesh, envOf(deployment!.spec.template.spec.containers[0], 'ISSUER'));
    const [own] = ofKind(mesh, 'RequestAuthentication');
    const [example] = ofKind(objectsOf('deploy/examples/istio-target-service'), 'RequestAuthentication');
    const rule = (o: K8sObject | undefined) => (o?.spec as { jwtRules: Array<{ issuer: string; jwksUri: string }> }).jwtRules[0]!;
    assert.equal(rule(example).issuer, issuer);
    assert.equal(rule(example).jwksUri, rule(own).jwksUri);
  });

  describe('the probe paths and METRICS_PORT, on the real service', () => {
    let t: TestService;
    before(async () => {
      t = await startTestService({ METRICS_PORT: '0' });
    });
    after(async () => t?.stop());

    it('answers the probes on PORT and /metrics only on METRICS_PORT, as the NetworkPolicy assumes', async () => {
      const [deployment] = serviceDeployments(objectsOf('deploy/overlays/sqlite'));
      const main = deployment!.spec.template.spec.containers.find((c) => c.name === SERVICE_CONTAINER)!;
      for (const probe of [main.livenessProbe, main.readinessProbe, main.startupProbe]) {
        const res = await t.agent.get(probe!.httpGet!.path!);
        assert.equal(res.status, 200, `${probe!.httpGet!.path} answers 200`);
      }
      assert.equal((await t.agent.get('/metrics')).status, 404, 'no /metrics on PORT');
      const metrics = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        http.get(`http://127.0.0.1:${t.service.metricsPort}/metrics`, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve({ status: res.statusCode!, body }));
        }).on('error', reject);
      });
      assert.equal(metrics.status, 200);
      assert.match(metrics.body, /^# HELP /m);
    });
  });

  describe('the checks fail on what they are there to catch', () => {
    const sqlite = () => copy(serviceDeployments(objectsOf('deploy/overlays/sqlite'))[0]!);
    const mesh = () => copy(objectsOf('deploy/overlays/postgresql-istio'));
    const example = () => copy(objectsOf('deploy/examples/istio-target-service'));
    const main = (d: DeploymentObject) => d.spec.template.spec.containers.find((c) => c.name === SERVICE_CONTAINER)!;
    const setEnv = (d: DeploymentObject, name: string, value: string) => {
      const c = main(d);
      c.env = [...(c.env ?? []).filter((e) => e.name !== name), { name, value }];
    };
    const problemsOf = (d: DeploymentObject, objects = objectsOf('deploy/overlays/sqlite')) => checkServiceDeployment(objects, d);

    it('a Deployment without ISSUER', () => {
      const d = sqlite();
      main(d).env = main(d).env!.filter((e) => e.name !== 'ISSUER');
      assert.ok(problemsOf(d).some((p) => /ISSUER is not set/.test(p)), problemsOf(d).join('\n'));
    });

    it('an ISSUER that the loader would refuse, and a variable the service does not read', () => {
      const d = sqlite();
      setEnv(d, 'ISSUER', 'https://identity.example.com/');
      setEnv(d, 'ISSUER_URL', 'https://identity.example.com');
      const problems = problemsOf(d);
      assert.ok(problems.some((p) => /not a valid issuer/.test(p)), problems.join('\n'));
      assert.ok(problems.some((p) => /ISSUER_URL is not a variable the service reads/.test(p)), problems.join('\n'));
    });

    it('a probe on a path the service does not serve, a port that is not EXPOSE, a writable root filesystem', () => {
      const d = sqlite();
      main(d).readinessProbe!.httpGet!.path = '/ready';
      main(d).ports!.find((p) => p.name === 'http')!.containerPort = 3000;
      main(d).securityContext!.readOnlyRootFilesystem = false;
      d.spec.template.spec.securityContext!.runAsUser = 0;
      const problems = problemsOf(d);
      for (const expected of [/readinessProbe path is \/ready/, /container port "http" \(3000\)/, /readOnlyRootFilesystem/, /runAsUser is not 1000/]) {
        assert.ok(problems.some((p) => expected.test(p)), `${expected}: ${problems.join('\n')}`);
      }
    });

    it('two replicas on one SQLite file, and a literal key-encryption key', () => {
      const d = sqlite();
      d.spec.replicas = 2;
      setEnv(d, 'KEY_ENCRYPTION_KEY', randomBytes(32).toString('hex'));
      const problems = problemsOf(d);
      assert.ok(problems.some((p) => /SQLite serves one replica/.test(p)), problems.join('\n'));
      assert.ok(problems.some((p) => /KEY_ENCRYPTION_KEY must come from a \(required\) Secret/.test(p)), problems.join('\n'));
    });

    it('an AuthorizationPolicy without requestPrincipals, without an audience or without a scope', () => {
      for (const [drop, expected] of [
        ['requestPrincipals', /must name requestPrincipals/],
        ['request.auth.audiences', /no request.auth.audiences/],
        ['request.auth.claims[scope]', /no request.auth.claims\[scope\]/],
      ] as const) {
        const objects = example();
        const rule = (ofKind(objects, 'AuthorizationPolicy')[0]!.spec as { rules: Array<{ from: Array<{ source: Record<string, unknown> }>; when: Array<{ key: string }> }> }).rules[0]!;
        if (drop === 'requestPrincipals') delete rule.from[0]!.source.requestPrincipals;
        else rule.when = rule.when.filter((w) => w.key !== drop);
        const problems = checkAuthorizationPolicies(objects);
        assert.ok(problems.some((p) => expected.test(p)), `${drop}: ${problems.join('\n')}`);
      }
    });

    it('a target service\'s rule that leaves /token open: only identity-backend\'s own policy may', () => {
      const objects = example();
      const rules = (ofKind(objects, 'AuthorizationPolicy')[0]!.spec as { rules: unknown[] }).rules;
      rules.push({ to: [{ operation: { paths: ['/token'] } }] });
      const problems = checkAuthorizationPolicies(objects);
      assert.ok(problems.some((p) => /rule 2: every source must name requestPrincipals/.test(p)), problems.join('\n'));
    });

    it('a RequestAuthentication without audiences, and a request principal of another issuer', () => {
      const objects = example();
      const authn = ofKind(objects, 'RequestAuthentication')[0]!.spec as { jwtRules: Array<{ audiences?: string[]; issuer: string }> };
      authn.jwtRules[0]!.issuer = 'https://elsewhere.example.com';
      delete authn.jwtRules[0]!.audiences;
      const problems = checkAuthorizationPolicies(objects);
      assert.ok(problems.some((p) => /no audiences/.test(p)), problems.join('\n'));
      assert.ok(problems.some((p) => /of no issuer a RequestAuthentication of this workload checks/.test(p)), problems.join('\n'));
    });

    it('XFCC settings of the sidecar that the service would not accept, or that trust too much', () => {
      const cases: Array<[string, (d: DeploymentObject) => void, RegExp]> = [
        ['APPEND_FORWARD with one element', (d) => {
          d.spec.template.metadata.annotations!['proxy.istio.io/config'] = 'proxyHeaders:\n  forwardedClientCert: APPEND_FORWARD\n  setCurrentClientCertDetails: { cert: true }\n';
        }, /needs the sidecar's forwardedClientCert SANITIZE_SET/],
        ['no Cert forwarded', (d) => {
          d.spec.template.metadata.annotations!['proxy.istio.io/config'] = 'proxyHeaders:\n  forwardedClientCert: SANITIZE_SET\n';
        }, /does not forward Cert/],
        ['every peer trusted', (d) => setEnv(d, 'TRUSTED_CLIENT_CERT_PROXIES', '0.0.0.0/0'), /trusts more than the sidecar/],
        ['PORT outside the sidecar', (d) => {
          d.spec.template.metadata.annotations!['traffic.sidecar.istio.io/excludeInboundPorts'] = '8080,9464';
        }, /PORT 8080 is excluded from the sidecar/],
        ['one per-address budget for the whole mesh', (d) => {
          main(d).env = main(d).env!.filter((e) => e.name !== 'RATE_LIMIT_TOKEN_PER_ADDRESS');
        }, /RATE_LIMIT_TOKEN_PER_ADDRESS is not 0/],
        ['a classic sidecar with the init container', (d) => {
          delete d.spec.template.metadata.annotations!['sidecar.istio.io/nativeSidecar'];
        }, /nativeSidecar/],
      ];
      for (const [name, mutate, expected] of cases) {
        const objects = mesh();
        const d = serviceDeployments(objects)[0]!;
        mutate(d);
        const problems = checkMeshSettings(objects, d);
        assert.ok(problems.some((p) => expected.test(p)), `${name}: ${problems.join('\n')}`);
      }
    });

    it('an object that breaks its schema, and a misspelt field', async () => {
      const d = sqlite();
      (main(d).ports![0] as { containerPort: unknown }).containerPort = 'http';
      assert.match(await schemaProblem(d) ?? '', /containerPort must be integer/);
      const policy = ofKind(example(), 'AuthorizationPolicy')[0]!;
      const source = (policy.spec as { rules: Array<{ from: Array<{ source: Record<string, unknown> }> }> }).rules[0]!.from[0]!.source;
      source.requestPrincipal = source.requestPrincipals;
      delete source.requestPrincipals;
      assert.equal(await schemaProblem(policy), undefined, 'the compiled schema lets the misspelling through');
      const problems = await unknownFieldProblems([{ label: 'misspelt', object: policy }]);
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.match(problems[0]!, /^misspelt: .*'"?requestPrincipal"?' does not exist/);
    });
  });
});
