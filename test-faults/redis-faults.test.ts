import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort } from '../test/helpers/free-port.ts';
import {
  drillEnv, killServices, maxMs, request, secondsUntil, serviceVars, sleep, spawnBuilt, startDrillService, startLoad, statusCounts, terminate, tokensWithoutAuditRow, type Answer,
} from './helpers/drill.ts';
import { startPrivateRedis } from './helpers/services.ts';
import { startTcpProxy } from './helpers/tcp-proxy.ts';

/** Redis is optional for issuance: a private redis-server is paused, stopped and restarted under load. */
const COMMAND_MS = 300;
const BOUNDS = { REDIS_COMMAND_TIMEOUT: `${COMMAND_MS}ms`, REDIS_CONNECT_TIMEOUT: '1s' };

async function redisUp(url: string): Promise<number | undefined> {
  const res = await request(url, { path: '/metrics' });
  const m = /identity_dependency_up\{dependency="redis"\} (\d)/.exec(res.body);
  return m ? Number(m[1]) : undefined;
}

describe('Redis faults', () => {
  const env = drillEnv();
  after(async () => {
    await killServices();
    env.remove();
  });

  it('Redis refuses, or is silent, at start-up: start-up stops with one line naming Redis', async (t) => {
    const refusedPort = await freePort();
    const redis = await startPrivateRedis();
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: redis.port });
    proxy.blackhole();
    try {
      for (const [what, url, pattern] of [
        ['refuses', `redis://127.0.0.1:${refusedPort}`, new RegExp(`Redis at 127\\.0\\.0\\.1:${refusedPort} refused the connection`)],
        ['is silent', `redis://127.0.0.1:${proxy.port}`, new RegExp(`Redis at 127\\.0\\.0\\.1:${proxy.port} did not answer within 1 s`)],
      ] as const) {
        const started = performance.now();
        const proc = spawnBuilt(serviceVars(env, { ...BOUNDS, DATABASE_URL: `file:${path.join(env.dir, 'startup.db')}`, REDIS_URL: url }));
        const exit = await proc.exited;
        const lines = proc.stderr().trim().split('\n');
        t.diagnostic(`Redis ${what} at start-up: exit ${exit.code} after ${((performance.now() - started) / 1000).toFixed(2)} s (process start included): ${lines.at(-1)}`);
        assert.equal(exit.code, 1);
        assert.equal(lines.length, 1, proc.stderr());
        assert.match(lines[0]!, pattern);
      }
    } finally {
      await proxy.close();
      await redis.stop();
    }
  });

  it('Redis paused, CLIENT PAUSEd, then stopped at run time: issuance goes on (in-process limits and replay cache), /readyz stays ready and lists redis as degraded, one log line per transition, and Redis is used again once back', async (t) => {
    const redis = await startPrivateRedis();
    const database = `file:${path.join(env.dir, 'redis.db')}`;
    // The per-client limit on: every token request then counts in Redis (the lockout and limits path).
    const service = await startDrillService(env, { ...BOUNDS, DATABASE_URL: database, REDIS_URL: redis.url, RATE_LIMIT_TOKEN_PER_CLIENT: '100000000' });
    const load = startLoad(service, 4);
    const phases: Array<{ name: string; answers: Answer[]; ready: { status: number; body: string }; recovery: number | undefined; up: number | undefined }> = [];
    async function outage(name: string, begin: () => void | Promise<void>, end: () => void | Promise<void>) {
      await sleep(800);
      const from = Date.now();
      await begin();
      await sleep(1500);
      const ready = await request(service.url, { path: '/readyz' });
      const up = await redisUp(service.url);
      const to = Date.now();
      await end();
      const recovery = await secondsUntil(async () => (await redisUp(service.url)) === 1, 15_000, 100);
      phases.push({ name, answers: load.answers.filter((a) => a.at >= from && a.at < to), ready, recovery, up });
    }
    await outage('SIGSTOP', () => redis.pause(), () => redis.resume());
    await outage('CLIENT PAUSE', () => { spawnSync('redis-cli', ['-p', String(redis.port), 'CLIENT', 'PAUSE', '1800', 'ALL']); }, async () => { await sleep(400); });
    let restarted: Awaited<ReturnType<typeof startPrivateRedis>> | undefined;
    await outage('stopped', () => redis.stop(), async () => { restarted = await startPrivateRedis(redis.port); });
    await sleep(500);
    const answers = await load.stop();
    const transitions = service.logLines(/^Redis (unavailable|available again)/);
    for (const p of phases) {
      t.diagnostic(`Redis ${p.name}: ${JSON.stringify(statusCounts(p.answers))}, slowest ${maxMs(p.answers)} ms (command bound ${COMMAND_MS} ms); /readyz ${p.ready.status} ${p.ready.body}; identity_dependency_up ${p.up}; back in use ${p.recovery?.toFixed(2)} s after it returned`);
      assert.ok(p.answers.length > 0);
      assert.deepEqual(Object.keys(statusCounts(p.answers)), ['200'], `${p.name}: ${JSON.stringify(statusCounts(p.answers))}`);
      assert.equal(p.ready.status, 200);
      assert.deepEqual(JSON.parse(p.ready.body).degraded, ['redis']);
      assert.equal(p.up, 0);
      assert.ok(p.recovery !== undefined, `${p.name}: Redis in use again`);
      assert.ok(maxMs(p.answers) < COMMAND_MS + 2000, `${p.name}: slowest ${maxMs(p.answers)} ms`);
    }
    const outageAnswers = phases.reduce((n, p) => n + p.answers.length, 0);
    t.diagnostic(`Redis transitions logged: ${transitions.length} lines for ${outageAnswers} requests answered during 3 outages: ${transitions.map((l) => l.msg).join(' | ')}`);
    const down = transitions.filter((l) => /unavailable/.test(String(l.msg)));
    assert.equal(down.length, 3, 'one error line per outage');
    assert.ok(down.every((l) => l.level === 'error'));
    assert.equal(transitions.filter((l) => /available again/.test(String(l.msg))).length, 3);
    assert.equal((await request(service.url, { path: '/readyz' })).body.includes('degraded'), false);
    await terminate(service);
    await restarted?.stop();
    const audit = await tokensWithoutAuditRow(answers, database);
    t.diagnostic(`Redis faults: tokens received ${audit.received}, with their audit row ${audit.audited}`);
    assert.deepEqual(audit.missing, []);
  });
});
