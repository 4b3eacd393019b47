import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import type { AuditRecord } from '../../src/audit/audit-event.ts';
import type { AuditRepository } from '../../src/audit/audit-repository.ts';
import { createAuditStream } from '../../src/http/admin/audit-stream.ts';
import { parseDatabaseUrl } from '../../src/persistence/database-target.ts';
import { applyMigrations } from '../../src/persistence/migrations.ts';
import { openDatabase } from '../../src/persistence/prisma-client.ts';
import { createPrismaUnitOfWork, type PrismaUnitOfWork } from '../../src/persistence/prisma-unit-of-work.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

/**
 * A follower that stops reading: the stream reads the next page only once the socket has taken the
 * last, so the server stops reading the database (its memory holds one page), and disconnects the
 * follower after the stall limit, freeing its place.
 */
describe(`audit stream back-pressure (${process.env.DATABASE_URL?.startsWith('postgres') ? 'postgresql' : 'sqlite'})`, () => {
  let database: TestDatabase;
  let uow: PrismaUnitOfWork;
  let server: http.Server;
  let pagesRead = 0;
  const TOTAL = 4000;
  const PAGE = 50;

  before(async () => {
    database = await createTestDatabase();
    const target = parseDatabaseUrl(database.url)!;
    await applyMigrations(target);
    uow = createPrismaUnitOfWork(await openDatabase(target), target);
    const padding = 'p'.repeat(2000);
    for (let b = 0; b < TOTAL / 250; b++) {
      await uow.insertAuditBatch(Array.from({ length: 250 }, (_, i): AuditRecord => ({
        type: 'token.issued', outcome: 'success', time: new Date(), clientId: 'c-bulk', requestId: `r-${b}-${i}`, details: { padding },
      })));
    }
    const counting: AuditRepository = {
      ...uow.stores.audit,
      follow: async (...args) => {
        pagesRead++;
        return uow.stores.audit.follow(...args);
      },
    };
    const stream = createAuditStream({ auditLog: counting, options: { pageSize: PAGE, stallMs: 500, pollMs: 50, maxFollowers: 1 } });
    const app = express();
    app.get('/stream', (req, res, next) => stream(req, res, {}).catch(next));
    app.use((error: { message: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => res.status(503).send(error.message));
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
  });
  after(async () => {
    server?.close();
    await uow?.close();
    await database?.drop();
  });

  it('stops reading for a follower that does not read, then disconnects it', async () => {
    const { port } = server.address() as AddressInfo;
    const url = `http://127.0.0.1:${port}/stream?after=`;
    const oldest = (await uow.stores.audit.follow({}, 0n, 1)).items[0]!.id;
    let stalled: http.ClientRequest | undefined;
    await new Promise<void>((resolve) => {
      stalled = http.get(`${url}${oldest}`, (res) => {
        assert.equal(res.statusCode, 200);
        res.pause(); // never reads: it cannot even see the server close its socket
        resolve();
      });
    });
    // While it holds the one place, others are refused; once the server has dropped it, the place is free.
    let status = 503;
    let pagesWhenDropped = 0;
    for (let i = 0; i < 600 && status === 503; i++) {
      pagesWhenDropped = pagesRead;
      status = await new Promise<number>((resolve) => {
        const probe = http.get(`${url}${oldest}`, (res) => {
          resolve(res.statusCode ?? 0);
          probe.destroy();
        });
        probe.on('error', () => resolve(0));
      });
      if (status === 503) await new Promise((r) => setTimeout(r, 100));
    }
    assert.notEqual(status, 503, 'the stalled follower was disconnected');
    stalled!.destroy();
    assert.ok(pagesWhenDropped * PAGE < TOTAL, `read ${pagesWhenDropped} pages of ${PAGE} for ${TOTAL} events before the follower was dropped`);
  });
});
