import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { classifyFailure, createDependencyHealth } from '../../src/persistence/dependency-health.ts';
import { StorageUnavailable } from '../../src/shared/errors.ts';
import { createLogger } from '../../src/shared/logger.ts';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  return { lines, logger: createLogger('info', stream) };
}

const wrapped = (cause: unknown) => new StorageUnavailable('the database did not store the audit records', { cause });

describe('classifyFailure', () => {
  it('names the cause from the driver codes along the cause chain', () => {
    assert.equal(classifyFailure(wrapped(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }))), 'disk_full');
    assert.equal(classifyFailure(wrapped(Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY' }))), 'read_only');
    assert.equal(classifyFailure(wrapped(Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_WRITE' }))), 'read_only');
    assert.equal(classifyFailure(wrapped(Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }))), 'locked');
    assert.equal(classifyFailure(wrapped(Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }))), 'timeout');
    assert.equal(classifyFailure(wrapped(Object.assign(new Error('canceling statement due to lock timeout'), { code: '55P03' }))), 'locked');
    assert.equal(classifyFailure(wrapped(new Error('Query read timeout'))), 'timeout');
    assert.equal(classifyFailure(wrapped(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))), 'connection_refused');
    assert.equal(classifyFailure(wrapped(new Error('Connection terminated unexpectedly'))), 'connection_lost');
    assert.equal(classifyFailure(wrapped(Object.assign(new Error('could not extend file'), { code: '53100' }))), 'disk_full');
    // Prisma's driver-adapter errors carry the driver's code in meta.
    const prisma = Object.assign(new Error('Operation has timed out'), { code: 'P1008', meta: { driverAdapterError: { cause: { originalCode: 'SQLITE_BUSY', kind: 'SocketTimeout' } } } });
    assert.equal(classifyFailure(wrapped(prisma)), 'locked');
    assert.equal(classifyFailure(new Error('something else')), 'unavailable');
  });
});

describe('createDependencyHealth', () => {
  it('writes one error line when the dependency starts failing and one warn line when it works again, whatever the number of calls', () => {
    const { lines, logger } = capture();
    const health = createDependencyHealth('database', logger, 'database (SQLite)');
    health.succeeded();
    assert.equal(lines.length, 0);
    for (let i = 0; i < 50; i++) health.failed(wrapped(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })));
    health.failed(wrapped(Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })));
    assert.equal(health.up, false);
    assert.equal(health.cause, 'locked');
    for (let i = 0; i < 10; i++) health.succeeded();
    assert.equal(health.up, true);
    assert.deepEqual(lines.map((l) => [l.level, l.msg]), [['error', 'database (SQLite) unavailable: disk full'], ['warn', 'database (SQLite) available again']]);
    assert.deepEqual(lines[0]!.error, { code: 'SQLITE_FULL', message: 'database or disk is full' });
    assert.equal(health.failures.get('disk_full'), 50);
    assert.equal(health.failures.get('locked'), 1);
  });
});
