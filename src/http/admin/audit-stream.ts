import type { Request, Response } from 'express';
import type { AuditFilter } from '../../audit/audit-event.ts';
import type { AuditRepository } from '../../audit/audit-repository.ts';
import { StorageUnavailable, ValidationFailed } from '../../shared/errors.ts';
import { auditEventRepresentation } from './representations.ts';

const EVENT_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

export type AuditStreamOptions = {
  /** How often a follower looks for new events once it has caught up. */
  pollMs: number;
  /** Events read (and written) at a time: with the socket's own buffer, all a follower holds. */
  pageSize: number;
  /** A comment line this often keeps proxies from closing an idle stream. */
  heartbeatMs: number;
  /** A reader that has not taken what was written within this long is disconnected. */
  stallMs: number;
  /** Followers at once, per process. */
  maxFollowers: number;
};

export const DEFAULT_STREAM_OPTIONS: AuditStreamOptions = { pollMs: 1000, pageSize: 100, heartbeatMs: 15_000, stallMs: 60_000, maxFollowers: 32 };

/** Where to resume: after the Last-Event-ID header (EventSource's reconnect) or ?after=, else from now. */
function resumeAfter(req: Request): { name: string; id: string } | undefined {
  const header = req.headers['last-event-id'];
  const query = req.query.after;
  if (query !== undefined && typeof query !== 'string') throw new ValidationFailed([{ name: 'after', reason: 'must be given once, as an event id' }]);
  if (typeof header === 'string' && header !== '') return { name: 'Last-Event-ID', id: header.trim() };
  if (query !== undefined) return { name: 'after', id: query };
  return undefined;
}

/**
 * GET /admin/audit/stream: Server-Sent Events, one `audit` event per stored event in the order the
 * chain committed them (so a follower never misses one committed late by another instance), each
 * with its event id, so a reconnecting EventSource resumes where it stopped. The next page is read
 * only once the socket has taken the last one: a reader that does not read holds one page, and is
 * disconnected after `stallMs`.
 */
export function createAuditStream(deps: { auditLog: AuditRepository; options?: Partial<AuditStreamOptions> }) {
  const options = { ...DEFAULT_STREAM_OPTIONS, ...deps.options };
  let followers = 0;

  return async function stream(req: Request, res: Response, filter: AuditFilter): Promise<void> {
    const after = resumeAfter(req);
    if (after && !EVENT_ID.test(after.id)) throw new ValidationFailed([{ name: after.name, reason: 'must be an event id' }]);
    let position = await deps.auditLog.positionOf(after?.id);
    if (position === undefined) throw new ValidationFailed([{ name: after!.name, reason: 'no such event: never stored, or pruned by retention' }]);
    if (followers >= options.maxFollowers) throw new StorageUnavailable(`${options.maxFollowers} followers are streaming already; retry later`);
    followers++;
    let closed = false;
    let wake: (() => void) | undefined;
    const stop = () => {
      closed = true;
      wake?.();
    };
    req.once('close', stop);
    res.once('close', stop);
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    // Proxies such as nginx would otherwise buffer the stream.
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.write('retry: 2000\n\n');

    const pause = (ms: number) => new Promise<void>((resolve) => {
      const timer = setTimeout(() => { wake = undefined; resolve(); }, ms);
      wake = () => { clearTimeout(timer); wake = undefined; resolve(); };
    });
    /** Resolves true once the socket has taken what was written, false when the reader stalled or left. */
    const drained = () => new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        res.off('drain', onDrain);
        wake = undefined;
        resolve(ok);
      };
      const onDrain = () => done(true);
      const timer = setTimeout(() => done(false), options.stallMs);
      res.on('drain', onDrain);
      wake = () => done(false);
    });

    try {
      let idleSince = Date.now();
      while (!closed) {
        let page: Awaited<ReturnType<AuditRepository['follow']>>;
        try {
          page = await deps.auditLog.follow(filter, position, options.pageSize);
        } catch {
          // The database is away: the follower reconnects with its last id and loses nothing.
          break;
        }
        const moved = page.position !== position;
        position = page.position;
        let buffered = false;
        for (const event of page.items) {
          buffered = !res.write(`id: ${event.id}\nevent: audit\ndata: ${JSON.stringify(auditEventRepresentation(event))}\n\n`) || buffered;
        }
        if (page.items.length) idleSince = Date.now();
        else if (Date.now() - idleSince >= options.heartbeatMs) {
          buffered = !res.write(': keep-alive\n\n') || buffered;
          idleSince = Date.now();
        }
        if (buffered && !(await drained())) {
          // end() would wait to flush to a reader that does not read: the socket goes, with its buffer.
          res.destroy();
          break;
        }
        if (!moved) await pause(options.pollMs);
      }
    } finally {
      followers--;
      req.off('close', stop);
      res.end();
    }
  };
}
