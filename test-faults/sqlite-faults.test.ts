import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeSync, openSync, closeSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import {
  drillEnv, killServices, maxMs, request, secondsUntil, sleep, startDrillService, startLoad, statusCounts, terminate, tokensWithoutAuditRow, type Answer, type DrillService,
} from './helpers/drill.ts';

/** The embedded SQLite file under faults: another process holding its lock, a full disk, an immutable file. */
const STATEMENT_MS = 1000;

/** /healthz polled every 50 ms; the slowest answer is what a liveness probe would have seen. */
function pollHealth(service: DrillService) {
  const answers: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      answers.push((await request(service.url, { path: '/healthz' })).ms);
      await sleep(50);
    }
  })();
  return { stop: async () => { running = false; await loop; return Math.round(Math.max(...answers)); } };
}

async function storageOutage(
  t: { diagnostic(s: string): void }, name: string, service: DrillService, everything: Answer[],
  begin: () => void | Promise<void>, end: () => void | Promise<void>, expectedCause: RegExp, outage = 1,
  /**
   * A full disk is not all-or-nothing for SQLite: a write that fits in pages the file (or its WAL)
   * already holds still succeeds, so issuance (audited, as the last drill checks) and the readiness
   * probe may go on until a write needs a new page. From the first refusal on, nearly every answer
   * is 503, and /readyz is unready (a refused audit write holds it there, whatever its own probe
   * write does).
   */
  gradual = false,
) {
  const load = startLoad(service, 4);
  await sleep(800);
  const health = pollHealth(service);
  await begin();
  const from = Date.now();
  await sleep(3000);
  const readyAsked = Date.now();
  const ready = await request(service.url, { path: '/readyz' });
  const to = Date.now();
  await end();
  const endedAt = Date.now();
  const recovery = await secondsUntil(() => load.since(endedAt).some((a) => a.status === 200), 15_000);
  const readyAfter = await secondsUntil(async () => (await request(service.url, { path: '/readyz' })).status === 200, 15_000, 100);
  const slowestHealth = await health.stop();
  const answers = await load.stop();
  everything.push(...answers);
  // Answered while the fault lasted (a request that waited through the end of it may rightly succeed).
  const firstRefusal = gradual ? Math.min(...answers.filter((a) => a.at >= from && a.status === 503).map((a) => a.at)) : from;
  const during = answers.filter((a) => a.at >= firstRefusal && a.at + a.ms < to);
  const lines = service.logLines(/^database \(SQLite\) unavailable/).slice(outage - 1);
  t.diagnostic(`${name}: ${JSON.stringify(statusCounts(during))}, slowest ${maxMs(during)} ms (bound ${STATEMENT_MS} ms); /healthz slowest ${slowestHealth} ms; /readyz ${ready.status} ${ready.body}; recovery ${recovery?.toFixed(2)} s, ready again ${readyAfter?.toFixed(2)} s; log: ${lines.map((l) => l.msg).join(' | ')}`);
  assert.ok(during.length > 0);
  // A partly full disk may still take a write that fits between refusals; such a token keeps its
  // audit row (the last drill counts them), so a few 200s are right, and anything else is not.
  const refused = during.filter((a) => a.status === 503).length;
  const tolerated = gradual ? Math.floor(during.length / 20) : 0;
  assert.ok(during.every((a) => a.status === 503 || a.status === 200) && during.length - refused <= tolerated,
    `${JSON.stringify(statusCounts(during))} ${JSON.stringify(during.filter((a) => a.status !== 503).map((a) => ({ at: a.at - from, ms: Math.round(a.ms), to: to - from })))}`);
  assert.ok(maxMs(during) < STATEMENT_MS + 2000, `slowest ${maxMs(during)} ms`);
  assert.ok(slowestHealth < STATEMENT_MS + 1000, `/healthz took ${slowestHealth} ms`);
  // Unready once a token request has been refused (at once when the fault is all-or-nothing).
  if (!gradual || answers.some((a) => a.status === 503 && a.at + a.ms <= readyAsked)) {
    assert.equal(ready.status, 503, ready.body);
    assert.equal(JSON.parse(ready.body).checks.audit_store, 'unavailable');
  }
  assert.ok(recovery !== undefined && readyAfter !== undefined);
  // A partly full disk flaps (a write that fits succeeds in between): a line per transition, still named.
  if (gradual) assert.ok(lines.length >= 1, 'an error line for the outage');
  else assert.equal(lines.length, 1, 'one error line for the outage');
  assert.equal(lines[0]!.level, 'error');
  assert.match(String(lines[0]!.msg), expectedCause);
  if (gradual) assert.ok(service.logLines(/^database \(SQLite\) available again/).length >= outage);
  else assert.equal(service.logLines(/^database \(SQLite\) available again/).length, outage);
}

describe('SQLite faults', () => {
  const env = drillEnv();
  const everything: Array<{ answers: Answer[]; database: string }> = [];
  /** The lock and the immutable-file drills share one service and one file. */
  let shared: DrillService | undefined;
  after(async () => {
    await killServices();
    spawnSync('umount', [path.join(env.dir, 'small')]);
    spawnSync('chattr', ['-R', '-i', env.dir]);
    env.remove();
  });

  it('another process holds the write lock: /healthz stays responsive, tokens get 503 within the bound, then issuance resumes', async (t) => {
    const file = path.join(env.dir, 'locked.db');
    const service = shared = await startDrillService(env, { DATABASE_URL: `file:${file}`, DATABASE_STATEMENT_TIMEOUT: `${STATEMENT_MS}ms` });
    const answers: Answer[] = [];
    let holder: BetterSqlite3.Database | undefined;
    await storageOutage(t, 'SQLite write lock held by another process', service, answers, async () => {
      // No busy wait of our own on this event loop either: try until the service is between writes.
      holder = new BetterSqlite3(file, { timeout: 0 });
      for (;;) {
        try {
          holder.exec('BEGIN IMMEDIATE');
          return;
        } catch {
          await sleep(2);
        }
      }
    }, () => {
      holder!.exec('COMMIT');
      holder!.close();
    }, /unavailable: locked/);
    everything.push({ answers, database: `file:${file}` });
  });

  it('database files made immutable: 503s, /readyz unready, one error line naming it, and recovery once writable', async (t) => {
    const probe = path.join(env.dir, 'probe');
    closeSync(openSync(probe, 'w'));
    const can = spawnSync('chattr', ['+i', probe], { encoding: 'utf8' });
    spawnSync('chattr', ['-i', probe]);
    if (can.status !== 0) {
      t.skip(`chattr +i is refused here (${can.stderr.trim()}): immutable files need CAP_LINUX_IMMUTABLE`);
      return;
    }
    const file = path.join(env.dir, 'locked.db');
    const service = shared ?? await startDrillService(env, { DATABASE_URL: `file:${file}`, DATABASE_STATEMENT_TIMEOUT: `${STATEMENT_MS}ms` });
    const answers: Answer[] = [];
    const files = [file, `${file}-wal`];
    await storageOutage(t, 'immutable files', service, answers, () => {
      for (const f of files) assert.equal(spawnSync('chattr', ['+i', f]).status, 0);
    }, () => {
      for (const f of files) spawnSync('chattr', ['-i', f]);
    }, /unavailable: read only/, 2);
    everything.push({ answers, database: `file:${file}` });
    await terminate(service);
  });

  it('disk full: 503s, /readyz unready, one error line naming it, and recovery once space is freed', async (t) => {
    const dir = path.join(env.dir, 'small');
    mkdirSync(dir);
    // Room enough that the space freed at the end outlasts the drill: the load writes audit rows at
    // hundreds of kilobytes a second, and a disk that fills again at once would never be ready again.
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', dir], { encoding: 'utf8' });
    if (mounted.status !== 0) {
      t.skip(`cannot mount a small tmpfs here (${mounted.stderr.trim()}): needs CAP_SYS_ADMIN`);
      return;
    }
    const file = path.join(dir, 'full.db');
    const service = await startDrillService(env, { DATABASE_URL: `file:${file}`, DATABASE_STATEMENT_TIMEOUT: `${STATEMENT_MS}ms` });
    const filler = path.join(dir, 'filler');
    const answers: Answer[] = [];
    await storageOutage(t, 'disk full', service, answers, () => {
      const fd = openSync(filler, 'w');
      const block = Buffer.alloc(64 * 1024);
      try {
        for (;;) writeSync(fd, block);
      } catch { /* ENOSPC: the disk is full */ }
      try {
        for (;;) writeSync(fd, Buffer.alloc(512));
      } catch { /* full to the last block */ }
      closeSync(fd);
    }, () => rmSync(filler), /unavailable: disk full/, 1, true);
    everything.push({ answers, database: `file:${file}` });
    await terminate(service);
  });

  it('every token received in these drills has its token.issued row', async (t) => {
    let received = 0;
    let audited = 0;
    for (const { answers, database } of everything) {
      const audit = await tokensWithoutAuditRow(answers, database);
      received += audit.received;
      audited += audit.audited;
      assert.deepEqual(audit.missing, []);
    }
    t.diagnostic(`SQLite faults, all drills: tokens received ${received}, with their audit row ${audited}`);
    assert.ok(received > 0);
  });
});
