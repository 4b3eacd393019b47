import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { SQLITE_BUSY_ATTEMPT_MS } from '../../src/persistence/database-bounds.ts';
import { createSerialGate, isSqliteLockError } from '../../src/persistence/sqlite-gate.ts';

/**
 * Another process holding the file's write lock (here a second connection, as a second process
 * would): the gate waits for it asynchronously, so the event loop keeps running meanwhile.
 */
describe('the serial gate waiting for a SQLite lock', () => {
  let dir: string;
  let file: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'idb-lock-'));
    file = path.join(dir, 'x.db');
    const db = new BetterSqlite3(file);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (v INTEGER)');
    db.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** The longest the event loop went without running a 10 ms timer while `work` ran. */
  async function longestStall<T>(work: () => Promise<T>): Promise<{ result: PromiseSettledResult<T>; stallMs: number }> {
    let last = performance.now();
    let stallMs = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      stallMs = Math.max(stallMs, now - last);
      last = now;
    }, 10);
    const [result] = await Promise.allSettled([work()]);
    clearInterval(timer);
    return { result, stallMs };
  }

  it('retries until the lock is released, without holding the event loop', async () => {
    const writer = new BetterSqlite3(file, { timeout: SQLITE_BUSY_ATTEMPT_MS });
    const holder = new BetterSqlite3(file, { timeout: 0 });
    holder.exec('BEGIN IMMEDIATE');
    const lockWaitMs = 3000;
    setTimeout(() => holder.exec('COMMIT'), lockWaitMs / 3);
    const gate = createSerialGate({ lockWaitMs });
    let attempts = 0;
    const { result, stallMs } = await longestStall(() => gate.run(async () => {
      attempts++;
      writer.prepare('INSERT INTO t (v) VALUES (1)').run();
      return 'stored';
    }));
    writer.close();
    holder.close();
    assert.deepEqual(result, { status: 'fulfilled', value: 'stored' });
    assert.ok(attempts > 1, 'it met the lock first');
    assert.ok(stallMs < lockWaitMs / 3, `the event loop stalled ${Math.round(stallMs)} ms`);
  });

  it('gives up with the lock error once the wait passes its bound, and a unit queued behind it does not start a bound of its own', async () => {
    const writer = new BetterSqlite3(file, { timeout: SQLITE_BUSY_ATTEMPT_MS });
    const holder = new BetterSqlite3(file, { timeout: 0 });
    holder.exec('BEGIN IMMEDIATE');
    const lockWaitMs = 1000;
    const gate = createSerialGate({ lockWaitMs });
    let queuedAttempts = 0;
    const started = performance.now();
    const first = gate.run(async () => writer.prepare('INSERT INTO t (v) VALUES (2)').run());
    const queued = gate.run(async () => {
      queuedAttempts++;
      return writer.prepare('INSERT INTO t (v) VALUES (3)').run();
    });
    const [a, b] = await Promise.allSettled([first, queued]);
    const elapsed = performance.now() - started;
    holder.exec('ROLLBACK');
    writer.close();
    holder.close();
    assert.equal(a.status, 'rejected');
    assert.ok(isSqliteLockError((a as PromiseRejectedResult).reason));
    assert.equal(b.status, 'rejected');
    assert.ok(isSqliteLockError((b as PromiseRejectedResult).reason));
    // Its bound counts from when it was handed to the gate, so the queue does not add up the waits.
    assert.ok(elapsed < lockWaitMs * 1.9, `both answered after ${Math.round(elapsed)} ms`);
    assert.ok(queuedAttempts <= 2);
  });
});
