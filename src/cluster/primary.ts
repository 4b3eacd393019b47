import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { ChangeMessage } from '../changes/local-change-feed.ts';
import { createMemoryWindowCounter } from '../limits/window-counter.ts';
import type { Logger } from '../shared/logger.ts';
import type { PrimaryReply, PrimaryRequest } from './ipc.ts';

export const WORKER_ENV = 'IDENTITY_BACKEND_CLUSTER_WORKER';

/** A worker that dies this soon after starting is crash-looping: stop instead of forking forever. */
const MIN_UPTIME_MS = 5_000;
const MAX_QUICK_DEATHS = 5;

export type Primary = { stop(timeoutMs: number): Promise<number> };

/**
 * The cluster primary (WEB_CONCURRENCY > 1): the one-time work (migrations, first signing key,
 * bootstrap admin) is done before this runs; it forks the workers, which share the listening
 * socket, and serves them what must be one per process — window counters (rate limits, lockout)
 * when there is no Redis, the relay of change notifications, and the aggregated /metrics. It
 * restarts a worker that dies, and on SIGTERM stops them all.
 */
export function startPrimary(opts: { workers: number; logger: Logger; onListening: (port: number) => void }): Primary & { clusterMetrics(): Promise<string> } {
  const { logger } = opts;
  const counter = createMemoryWindowCounter();
  const metrics = new AggregatorRegistry();
  let stopping = false;
  let quickDeaths = 0;
  let listening = 0;
  const started = new Map<number, number>();

  function fork(): Worker {
    const worker = cluster.fork({ [WORKER_ENV]: '1' });
    started.set(worker.id, Date.now());
    return worker;
  }

  /**
   * The change goes on every other worker's channel before the reply goes back: a connection the
   * primary hands a worker after the admin call has answered comes behind it on the same channel, so
   * no worker serves a request from before the change once the caller has seen it made.
   */
  function relay(from: Worker, change: string): void {
    const message: ChangeMessage = { type: 'identity-backend:change', change };
    for (const other of Object.values(cluster.workers ?? {})) if (other && other !== from && other.isConnected()) other.send(message);
  }

  async function answer(worker: Worker, request: PrimaryRequest): Promise<unknown> {
    switch (request.op) {
      case 'counter.hit': return counter.hit(request.key, request.windowMs);
      case 'counter.undo': return counter.undo(request.key);
      case 'counter.reset': return counter.reset(request.key);
      case 'metrics': return metrics.clusterMetrics();
      case 'change.relay': return relay(worker, request.change);
    }
  }

  cluster.on('message', (worker, message: unknown) => {
    const request = message as PrimaryRequest;
    if (request?.type !== 'identity-backend:request') return;
    answer(worker, request).then(
      (result) => worker.isConnected() && worker.send({ type: 'identity-backend:reply', id: request.id, result } satisfies PrimaryReply),
      (error: unknown) => worker.isConnected() && worker.send({ type: 'identity-backend:reply', id: request.id, error: String((error as Error)?.message ?? error) } satisfies PrimaryReply),
    );
  });

  cluster.on('listening', (_worker, address) => {
    if (++listening === opts.workers) opts.onListening(address.port);
  });

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    const lived = Date.now() - (started.get(worker.id) ?? 0);
    started.delete(worker.id);
    logger.error({ worker: worker.id, code, signal }, 'worker exited; starting another');
    quickDeaths = lived < MIN_UPTIME_MS ? quickDeaths + 1 : 0;
    if (quickDeaths >= MAX_QUICK_DEATHS) {
      logger.fatal('workers keep exiting right after start; stopping');
      process.exit(1);
    }
    fork();
  });

  for (let i = 0; i < opts.workers; i++) fork();

  return {
    clusterMetrics: () => metrics.clusterMetrics(),
    /** SIGTERM to every worker (each drains its requests); resolves with the exit code for the process. */
    async stop(timeoutMs) {
      stopping = true;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
      const exits = workers.map((w) => new Promise<number>((resolve) => {
        if (w.isDead()) resolve(w.process.exitCode ?? 0);
        // A worker still loading its modules when our SIGTERM came had no handler yet and died of it;
        // it served nothing, so that is a clean stop too.
        else w.once('exit', (code, signal) => resolve(code ?? (signal === 'SIGTERM' ? 0 : 1)));
      }));
      for (const w of workers) w.process.kill('SIGTERM');
      // The workers bound their own shutdown a little inside SHUTDOWN_TIMEOUT; one still alive at the bound is killed.
      const timer = setTimeout(() => workers.forEach((w) => w.isDead() || w.process.kill('SIGKILL')), timeoutMs);
      const codes = await Promise.all(exits);
      clearTimeout(timer);
      return codes.every((c) => c === 0) ? 0 : 1;
    },
  };
}
