import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { freePort } from '../helpers/free-port.ts';
import { startTestService, type TestService } from '../helpers/start-app.ts';

const dir = new URL('../../deploy/monitoring/', import.meta.url);

/** Every identity_* metric an expression names, histogram series reduced to the histogram's name. */
function metricNames(exprs: string[]): Set<string> {
  const names = new Set<string>();
  for (const expr of exprs) for (const [name] of expr.matchAll(/identity_[a-z_]+/g)) names.add(name.replace(/_(bucket|count|sum)$/, ''));
  return names;
}

describe('deploy/monitoring names only metrics the service exports', () => {
  let t: TestService;
  let exported: Set<string>;

  before(async () => {
    t = await startTestService({ METRICS_PORT: String(await freePort()) });
    const text = await (await fetch(`http://127.0.0.1:${t.service.metricsPort}/metrics`)).text();
    exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
  });
  after(() => t?.stop());

  it('the alert rules', () => {
    const rules = parse(readFileSync(new URL('prometheus-alerts.yaml', dir), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
    const exprs = rules.groups.flatMap((g) => g.rules.map((r) => r.expr));
    const names = metricNames(exprs);
    for (const alert of ['IdentityAuditWritesFailing', 'IdentitySigningKeyRotationOverdue', 'IdentityTokenErrorRateSpike']) {
      assert.ok(rules.groups.some((g) => g.rules.some((r) => r.alert === alert)), alert);
    }
    assert.ok(names.size >= 5);
    for (const name of names) assert.ok(exported.has(name), `${name} is not exported`);
  });

  it('the Grafana dashboard', () => {
    const dashboard = JSON.parse(readFileSync(new URL('grafana-dashboard.json', dir), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const names = metricNames(dashboard.panels.flatMap((p) => p.targets.map((x) => x.expr)));
    assert.ok(names.size >= 8);
    for (const name of names) assert.ok(exported.has(name), `${name} is not exported`);
  });

  it('a metric that does not exist would be caught', () => {
    assert.equal(exported.has('identity_tokens_issued_by_client_totally'), false);
    assert.deepEqual([...metricNames(['rate(identity_x_bucket[5m])'])], ['identity_x']);
  });
});
