import { Router } from 'express';
import type { Metrics } from './metrics.ts';

export type OpsDeps = {
  ping: () => Promise<void>;
  hasActiveKey: () => boolean;
  metrics: Metrics;
  /** Undefined when /metrics has a port of its own (METRICS_PORT). */
  renderMetrics: (() => Promise<string>) | undefined;
};

/** Liveness, readiness (database reachable, a signing key loaded) and Prometheus metrics. */
export function createOpsRouter(deps: OpsDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const database = await deps.ping().then(() => 'ok' as const, () => 'unavailable' as const);
    const signingKey = deps.hasActiveKey() ? 'ok' : 'missing';
    const ready = database === 'ok' && signingKey === 'ok';
    res.setHeader('Cache-Control', 'no-store');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', checks: { database, signing_key: signingKey } });
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
