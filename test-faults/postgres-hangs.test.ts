import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import {
  drillEnv, killServices, maxMs, spawnBuilt, request, requestToken, secondsUntil, serviceVars, sleep, startDrillService, startLoad, statusCounts, terminate, tokensWithoutAuditRow, type Answer,
} from './helpers/drill.ts';
import { createSharedPgDatabase } from './helpers/services.ts';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.ts';

/**
 * PostgreSQL that hangs instead of going down cleanly: connections that die without a FIN or RST
 * (a failover, a partition), a lock held for long, a server that accepts and never answers. The
 * service's database traffic goes through a loopback proxy in front of the shared server, on a
 * database of its own; only the proxy's connections are black-holed.
 */
const STATEMENT_MS = 1000;
const CONNECT_MS = 1000;
/** The longest a request may wait on a dead connection: the client-side query bound (statement + 1 s), plus a pool wait and scheduling slack. */
const FAULT_BOUND_MS = STATEMENT_MS + 1000 + CONNECT_MS + 2000;
const BOUNDS = { DATABASE_STATEMENT_TIMEOUT: `${STATEMENT_MS}ms`, DATABASE_CONNECT_TIMEOUT: `${CONNECT_MS}ms` };

describe('PostgreSQL hangs', () => {
  const env = drillEnv();
  let database: Awaited<ReturnType<typeof createSharedPgDatabase>>;
  let proxy: TcpProxy;
  const everything: Answer[] = [];
  /** The first two drills share one service: the second starts from the pool the first one healed. */
  let shared: Awaited<ReturnType<typeof startDrillService>> | undefined;
  before(async () => {
    database = await createSharedPgDatabase();
    proxy = await startTcpProxy(database.host);
  });
  after(async () => {
    await killServices();
    await proxy.close();
    await database.drop();
    env.remove();
  });

  it('connections that die silently: fast 503s, /readyz unready, and the pool heals by itself once the server is reachable again', async (t) => {
    const service = shared = await startDrillService(env, { ...BOUNDS, DATABASE_URL: database.via(proxy.port), SHUTDOWN_TIMEOUT: '5' });
    const load = startLoad(service, 4);
    await sleep(1500);
    const faultAt = Date.now();
    proxy.blackhole();
    await sleep(2500);
    const ready = await request(service.url, { path: '/readyz', timeoutMs: 20_000 });
    const health = await request(service.url, { path: '/healthz' });
    // Long enough for requests caught in flight by the fault (up to two statement bounds: the issued
    // row, then the denied row) to end, and for fresh ones to start and be answered inside it.
    await sleep(4500);
    const healAt = Date.now();
    proxy.heal();
    // Recovery: the first token issued after the server is reachable again (old connections stay dead).
    const recovery = await secondsUntil(() => load.since(healAt).some((a) => a.status === 200 && a.at >= healAt), 30_000);
    await sleep(1500);
    const steadyFrom = Date.now() - 1000;
    const answers = await load.stop();
    everything.push(...answers);
    // Started once the fault was on and answered before it was healed. A worker answered 503 waits out
    // Retry-After, so there may be only one such request per worker, started right at the fault.
    const during = answers.filter((a) => a.at >= faultAt && a.at + a.ms < healAt);
    // Every request that started while the server was unreachable, whenever it was answered.
    const started = answers.filter((a) => a.at >= faultAt && a.at < healAt);
    t.diagnostic(`silent death: ${during.length} answers during the fault ${JSON.stringify(statusCounts(during))}, slowest of ${started.length} started in it ${maxMs(started)} ms (bound ${FAULT_BOUND_MS}); /readyz ${ready.status} in ${Math.round(ready.ms)} ms; /healthz ${Math.round(health.ms)} ms; recovery ${recovery?.toFixed(2)} s after the server came back`);
    assert.ok(during.length > 0);
    assert.ok(during.every((a) => a.status === 503 || a.status === 200), JSON.stringify(statusCounts(during)));
    assert.ok(maxMs(started) < FAULT_BOUND_MS, `slowest answer to a request started during the fault ${maxMs(started)} ms`);
    assert.equal(ready.status, 503, ready.body);
    assert.equal(health.status, 200);
    assert.ok(recovery !== undefined, 'the service issues tokens again without a restart');
    const steady = answers.filter((a) => a.at >= steadyFrom);
    assert.ok(steady.length > 0 && steady.every((a) => a.status === 200), `after recovery: ${JSON.stringify(statusCounts(steady))}`);
    // Ready again once the last refused audit write is AUDIT_FAILURE_HOLD_MS (5 s) behind.
    const readyAgain = await secondsUntil(async () => (await request(service.url, { path: '/readyz' })).status === 200, 15_000, 100);
    t.diagnostic(`silent death: ready again ${readyAgain?.toFixed(2)} s after the steady state`);
    assert.ok(readyAgain !== undefined, '/readyz ready again');
    const audit = await tokensWithoutAuditRow(answers, database.url);
    t.diagnostic(`silent death: tokens received ${audit.received}, with their audit row ${audit.audited}`);
    assert.deepEqual(audit.missing, []);
  });

  it('a table lock held for seconds: each request bounded by DATABASE_STATEMENT_TIMEOUT, then issuance resumes', async (t) => {
    const service = shared ?? await startDrillService(env, { ...BOUNDS, DATABASE_URL: database.via(proxy.port) });
    const load = startLoad(service, 4);
    await sleep(1000);
    const locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE "AuditEvent" IN ACCESS EXCLUSIVE MODE');
    const lockedAt = Date.now();
    await sleep(4000);
    const ready = await request(service.url, { path: '/readyz' });
    // The lock is held until COMMIT is sent, not until its answer is read here: a batch that waited on
    // the lock commits at once when it goes, and its token's 200 can be read before COMMIT's answer.
    const releasingAt = Date.now();
    await locker.query('COMMIT');
    const releasedAt = Date.now();
    await locker.end();
    const recovery = await secondsUntil(() => load.since(releasedAt).some((a) => a.status === 200), 10_000);
    await sleep(1000);
    const answers = await load.stop();
    everything.push(...answers);
    const during = answers.filter((a) => a.at >= lockedAt && a.at + a.ms < releasingAt);
    t.diagnostic(`table lock 4 s: ${JSON.stringify(statusCounts(during))}, slowest ${maxMs(during)} ms (statement bound ${STATEMENT_MS} ms); recovery ${recovery?.toFixed(2)} s after release; /readyz ${ready.status} during`);
    assert.ok(during.length > 0);
    assert.ok(during.every((a) => a.status === 503), JSON.stringify(statusCounts(during)));
    assert.ok(maxMs(during) < STATEMENT_MS + 2000, `slowest ${maxMs(during)} ms`);
    assert.ok(recovery !== undefined);
    const stopped = await terminate(service);
    assert.equal(stopped.code, 0, service.process.stderr());
    const audit = await tokensWithoutAuditRow(answers, database.url);
    t.diagnostic(`table lock: tokens received ${audit.received}, with their audit row ${audit.audited}`);
    assert.deepEqual(audit.missing, []);
  });

  for (const fault of ['dead connections', 'a held lock'] as const) {
    it(`SIGTERM while the database hangs (${fault}): exits within SHUTDOWN_TIMEOUT, in-flight requests answered 503, exit code 1`, async (t) => {
      proxy.pass();
      // Statements may wait far longer than the shutdown bound: the bound must hold anyway.
      const service = await startDrillService(env, { DATABASE_URL: database.via(proxy.port), DATABASE_STATEMENT_TIMEOUT: '30s', SHUTDOWN_TIMEOUT: '2' });
      const warm = await requestToken(service);
      assert.equal(warm.status, 200);
      let locker: pg.Client | undefined;
      if (fault === 'dead connections') proxy.blackhole();
      else {
        locker = new pg.Client({ connectionString: database.url });
        await locker.connect();
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE "AuditEvent" IN ACCESS EXCLUSIVE MODE');
      }
      const inFlight = Array.from({ length: 4 }, () => requestToken(service));
      await sleep(500);
      const stopped = await terminate(service);
      const answers = await Promise.all(inFlight);
      everything.push(warm, ...answers);
      if (locker) {
        await locker.query('ROLLBACK');
        await locker.end();
      }
      proxy.pass();
      t.diagnostic(`SIGTERM with ${fault}: exited in ${stopped.seconds.toFixed(2)} s (SHUTDOWN_TIMEOUT 2 s), code ${stopped.code}, in-flight ${JSON.stringify(statusCounts(answers))}`);
      assert.ok(stopped.seconds < 2 + 1.5, `took ${stopped.seconds} s`);
      assert.equal(stopped.code, 1);
      assert.deepEqual(answers.map((a) => a.status), [503, 503, 503, 503]);
      assert.match(service.process.stdout(), /SHUTDOWN_TIMEOUT reached: answering 503/);
      const audit = await tokensWithoutAuditRow([warm, ...answers], database.url);
      assert.deepEqual(audit.missing, []);
    });
  }

  it('PostgreSQL accepts connections but never answers at start-up: start-up stops within DATABASE_CONNECT_TIMEOUT with one line naming it', async (t) => {
    proxy.blackhole();
    const started = performance.now();
    const proc = spawnBuilt(serviceVars(env, { ...BOUNDS, DATABASE_URL: database.via(proxy.port) }));
    const exit = await proc.exited;
    const seconds = (performance.now() - started) / 1000;
    proxy.pass();
    const lines = proc.stderr().trim().split('\n');
    t.diagnostic(`silent PostgreSQL at start-up: exited ${exit.code} after ${seconds.toFixed(2)} s (process start included): ${lines.at(-1)}`);
    assert.equal(exit.code, 1);
    assert.equal(lines.length, 1, proc.stderr());
    assert.match(lines[0]!, new RegExp(`PostgreSQL at 127\\.0\\.0\\.1:${proxy.port} did not answer within 1 s`));
    assert.ok(seconds < CONNECT_MS / 1000 + 10);
  });

  it('every token received in these drills has its token.issued row', async (t) => {
    const audit = await tokensWithoutAuditRow(everything, database.url);
    t.diagnostic(`PostgreSQL hangs, all drills: tokens received ${audit.received}, with their audit row ${audit.audited}`);
    assert.ok(audit.received > 0);
    assert.deepEqual(audit.missing, []);
  });
});
