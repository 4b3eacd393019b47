import autocannon from 'autocannon';
import { createTokenSampler } from '../checks/token-sampler.ts';
import { verifySampledTokens, type VerificationResult } from '../checks/verify-tokens.ts';
import { samplePeakRss } from '../process/process-tree.ts';
import type { TokenTarget } from './token-target.ts';

/** One measurement of one server: what it answered, how fast, and whether its tokens verify. */
export type Measurement = {
  durationSeconds: number;
  /** 2xx responses per second. */
  tokensPerSecond: number;
  statusCounts: Record<string, number>;
  non2xx: number;
  /** Connection errors and timeouts (autocannon). */
  errors: number;
  latencyMs: { p50: number; p99: number; max: number };
  peakRssBytes: number;
  verification: VerificationResult;
  /** The start of the first non-2xx body: an OAuth error code, never a credential. */
  firstRefusal?: string;
};

export type RunLength = { seconds: number } | { amount: number };
export type LoadSpec = { connections: number } & RunLength;

/** Keep-alive load on `target` with autocannon; every response is counted by status, a sample verified. */
export async function runLoad(target: TokenTarget, spec: LoadSpec): Promise<Measurement> {
  const sampler = createTokenSampler();
  let firstRefusal: string | undefined;
  const { origin, pathname } = new URL(target.tokenUrl);
  const nextBody = typeof target.body === 'function' ? target.body : undefined;
  const rss = samplePeakRss(target.pid);
  const result = await autocannon({
    url: origin,
    connections: spec.connections,
    ...('amount' in spec ? { amount: spec.amount } : { duration: spec.seconds }),
    requests: [{
      method: 'POST',
      path: pathname,
      headers: target.headers,
      ...(nextBody ? { setupRequest: (request) => ({ ...request, body: nextBody() }) } : { body: target.body as string }),
      onResponse: (status, body) => {
        if (status >= 200 && status < 300) sampler.offer(body);
        else firstRefusal ??= body.slice(0, 200);
      },
    }],
  });
  const peakRssBytes = rss.stop();
  const statusCounts: Record<string, number> = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([status, { count }]) => [status, count ?? 0]));
  const ok = Object.entries(statusCounts).reduce((sum, [status, count]) => sum + (status.startsWith('2') ? count : 0), 0);
  return {
    durationSeconds: result.duration,
    tokensPerSecond: ok / result.duration,
    statusCounts,
    non2xx: result.non2xx,
    errors: result.errors,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    peakRssBytes,
    verification: await verifySampledTokens(sampler.samples(), target.check),
    ...(firstRefusal !== undefined && { firstRefusal }),
  };
}
