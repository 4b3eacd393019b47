import { Command } from 'commander';
import type { Act, CliContext } from '../cli-context.ts';
import { CliError, EXIT, UsageError } from '../exit-codes.ts';
import { collect, positiveInteger } from '../options.ts';
import { show, table } from '../output.ts';
import { readServerSentEvents } from '../sse.ts';

type AuditEvent = Record<string, unknown> & { id: string; time: string; type: string; outcome: string };
type Page = { items: AuditEvent[]; next_cursor: string | null };
type Verification = {
  intact: boolean;
  events_checked: number;
  checkpoints_checked: number;
  first_mismatch: null | { event_id: string; problem: string; description: string };
};

/** Query filters of GET /admin/audit, by flag; a flag given twice sends the parameter twice. */
const FILTERS = {
  clientId: 'client_id', type: 'type', outcome: 'outcome', since: 'since', until: 'until', audience: 'audience',
  authMethod: 'auth_method', reason: 'reason', jti: 'jti', requestId: 'request_id',
} as const;
type FilterFlags = { [K in keyof typeof FILTERS]?: string };

function addFilterOptions(cmd: Command): Command {
  return cmd
    .option('--client-id <id>', 'events of this client')
    .option('--type <type>', 'event type (token.issued, token.denied, client.created, key.rotated, admin.denied, …)')
    .option('--outcome <outcome>', 'success or failure')
    .option('--since <time>', 'at or after this ISO 8601 date or date-time')
    .option('--until <time>', 'at or before this ISO 8601 date or date-time')
    .option('--audience <uri>', 'tokens for this audience')
    .option('--auth-method <method>', 'client authentication method')
    .option('--reason <reason>', 'denial reason (unknown_client, secret_mismatch, …)')
    .option('--jti <jti>', 'the token with this jti')
    .option('--request-id <id>', 'the request with this id');
}

const HEADER = ['TIME', 'TYPE', 'OUTCOME', 'CLIENT_ID', 'REASON', 'REQUEST_ID'];
const cells = (e: AuditEvent) => [e.time, e.type, e.outcome, show(e.client_id), show(e.reason), show(e.request_id)];

async function search(ctx: CliContext, flags: FilterFlags & { limit?: string; cursor?: string; all?: boolean }): Promise<void> {
  const limit = positiveInteger('--limit', flags.limit);
  if (flags.all && flags.cursor) throw new UsageError('audit search: --all and --cursor exclude each other');
  const filters = Object.fromEntries(Object.entries(FILTERS).map(([flag, param]) => [param, flags[flag as keyof FilterFlags]]));
  const api = ctx.admin();
  const items: AuditEvent[] = [];
  let cursor = flags.cursor;
  let next: string | null;
  do {
    const page = await api.call<Page>('GET', '/admin/audit', { query: { ...filters, limit, cursor } });
    items.push(...page.items);
    next = page.next_cursor;
    cursor = next ?? undefined;
  } while (flags.all && cursor);
  ctx.out.result({ items, next_cursor: next }, () => table(HEADER, items.map(cells)));
  if (next) ctx.out.note(`more events: --cursor ${next}`);
}

/** What `audit tail` matches on its side: the stream itself carries every event. */
function matches(event: AuditEvent, flags: { clientId?: string; type?: string[]; outcome?: string }): boolean {
  return (flags.clientId === undefined || event.client_id === flags.clientId)
    && (flags.type === undefined || flags.type.includes(event.type))
    && (flags.outcome === undefined || event.outcome === flags.outcome);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Follows GET /admin/audit/stream. When the stream ends or breaks it reconnects with the id of
 * the last event seen as Last-Event-ID, so nothing is missed or repeated; refused credentials or a
 * first connection that fails end the command (4 or 3).
 */
async function tail(ctx: CliContext, flags: { after?: string; count?: string; clientId?: string; type?: string[]; outcome?: string }): Promise<void> {
  const count = positiveInteger('--count', flags.count);
  const api = ctx.admin();
  let lastId = flags.after;
  let seen = 0;
  let retryMs = 1000;
  let connected = false;
  for (;;) {
    try {
      const res = await api.open('/admin/audit/stream', lastId === undefined ? {} : { 'last-event-id': lastId })
        .catch(missingEndpoint('GET /admin/audit/stream'));
      if (!res.body) throw new CliError('the audit stream answered without a body', EXIT.failed);
      if (connected) ctx.out.note(`audit tail: reconnected after event ${lastId ?? '(none)'}`);
      connected = true;
      for await (const message of readServerSentEvents(res.body, (ms) => { retryMs = ms; })) {
        if (message.id) lastId = message.id;
        if (message.event !== 'audit') continue;
        let event: AuditEvent;
        try {
          event = JSON.parse(message.data) as AuditEvent;
        } catch {
          throw new CliError(`the audit stream sent an event that is not JSON (id ${message.id ?? '?'})`, EXIT.failed);
        }
        if (!matches(event, flags)) continue;
        ctx.out.item(event, () => cells(event).join('  '));
        if (count !== undefined && ++seen >= count) {
          await res.body.cancel().catch(() => undefined);
          return;
        }
      }
    } catch (error) {
      const retryable = error instanceof CliError ? error.exitCode === EXIT.unavailable : true;
      if (!connected || !retryable) throw error;
      ctx.out.note(`audit tail: the stream broke (${error instanceof Error ? error.message : String(error)}); reconnecting`);
    }
    await sleep(retryMs);
  }
}

/** A 404 for the endpoint itself (not for something named) means a service from before it existed. */
function missingEndpoint(what: string) {
  return (error: unknown): never => {
    if (error instanceof CliError && error.exitCode === EXIT.notFound) {
      throw new CliError(`the service at this URL has no ${what} (an older version?)`, EXIT.failed, error.details);
    }
    throw error;
  };
}

async function verify(ctx: CliContext): Promise<number> {
  const result = await ctx.admin().call<Verification>('POST', '/admin/audit/verify').catch(missingEndpoint('POST /admin/audit/verify'));
  const checked = `${result.events_checked} events and ${result.checkpoints_checked} checkpoints checked`;
  const m = result.first_mismatch;
  ctx.out.result(result, () => (result.intact
    ? `intact: ${checked}`
    : `NOT INTACT: ${checked}; first mismatch at event ${m?.event_id ?? '?'}: ${m?.problem ?? '?'}: ${m?.description ?? ''}`));
  return result.intact ? EXIT.ok : EXIT.failed;
}

export function auditCommand(act: Act): Command {
  const audit = new Command('audit').description('the audit log through the admin API (admin:audit)');
  addFilterOptions(audit.command('search'))
    .description('find audit events, newest first')
    .option('--limit <n>', 'events per page (1-100)')
    .option('--cursor <cursor>', 'the next_cursor of an earlier page')
    .option('--all', 'follow every page')
    .action(act(async (ctx, flags: FilterFlags & { limit?: string; cursor?: string; all?: boolean }) => search(ctx, flags)));
  audit.command('tail')
    .description('print audit events as they are written (one JSON object per line with --json); Ctrl-C ends')
    .option('--after <event_id>', 'start after this event (Last-Event-ID)')
    .option('--count <n>', 'stop after this many events')
    .option('--client-id <id>', 'only events of this client')
    .option('--type <type>', 'only this event type; repeat for several', collect)
    .option('--outcome <outcome>', 'only success or failure')
    .action(act(async (ctx, flags: { after?: string; count?: string; clientId?: string; type?: string[]; outcome?: string }) => tail(ctx, flags)));
  audit.command('verify')
    .description('check the audit log\'s integrity on the service; exit code 1 when it has been altered')
    .action(act(async (ctx) => verify(ctx) as Promise<0 | 1>));
  return audit;
}
