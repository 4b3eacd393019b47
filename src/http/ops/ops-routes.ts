import { Router } from 'express';
import type { Metrics } from './metrics.ts';

export type OpsDeps = {
  ping: () => Promise<void>;
  /** A committed write to the audit store's database (UnitOfWork.probeWrite). */
  probeWrite: () => Promise<void>;
  /** The audit store refused one of this process's writes a moment ago (audit-write-state.ts). */
  auditRefusedRecently?: () => boolean;
  /** Optional dependencies that are down now (issuance goes on without them; reported, not gating). */
  degraded?: () => string[];
  hasActiveKey: () => boolean;
  metrics: Metrics;
  /** Undefined when /metrics has a port of its own (METRICS_PORT). */
  renderMetrics: (() => Promise<string>) | undefined;
};

/**
 * Liveness, readiness and Prometheus metrics. /healthz answers from memory only: it says the
 * process serves, and never waits on the database. /readyz reports what issuance needs: the database
 * answers a read, accepts a committed write (audit rows go there: a full disk or a read-only file
 * makes the service unready) and has not refused an audit write of this process in the last few
 * seconds, and a signing key is loaded. Optional dependencies (Redis) that are
 * down are listed under `degraded` without making the service unready.
 */
export function createOpsRouter(deps: OpsDeps): Router {
  const router = Router();
  // Calls that arrive while a probe is under way share it, so a flood of /readyz is not a flood of writes.
  let probing: Promise<{ database: 'ok' | 'unavailable'; audit_store: 'ok' | 'unavailable' }> | undefined;
  const probe = () => (probing ??= (async () => {
    const database = await deps.ping().then(() => 'ok' as const, () => 'unavailable' as const);
    const auditStore = database === 'ok' ? await deps.probeWrite().then(() => 'ok' as const, () => 'unavailable' as const) : 'unavailable' as const;
    return { database, audit_store: auditStore };
  })().finally(() => { probing = undefined; }));
  router.get('/healthz', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const { database, audit_store: probed } = await probe();
    // The probe's small write can fit where an audit batch did not (a partly full disk): a refusal
    // of a real write a moment ago makes the audit store unavailable whatever the probe says.
    const auditStore = probed === 'ok' && !deps.auditRefusedRecently?.() ? 'ok' : 'unavailable';
    const signingKey = deps.hasActiveKey() ? 'ok' : 'missing';
    const ready = database === 'ok' && auditStore === 'ok' && signingKey === 'ok';
    const degraded = deps.degraded?.() ?? [];
    res.setHeader('Cache-Control', 'no-store');
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'unavailable',
      checks: { database, audit_store: auditStore, signing_key: signingKey },
      ...(degraded.length > 0 && { degraded }),
    });
  });
  const render = deps.renderMetrics;
  if (render) {
    router.get('/metrics', async (_req, res) => {
      res.setHeader('Cache-Control', 'no-store');
      res.type(deps.metrics.registry.contentType).send(await render());
    });
  }
  return router;
}
