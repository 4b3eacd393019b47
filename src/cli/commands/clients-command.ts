import { Command } from 'commander';
import type { Act, CliContext } from '../cli-context.ts';
import { UsageError } from '../exit-codes.ts';
import { collect, durationOption, jsonObjectOption, positiveInteger, quotaOption } from '../options.ts';
import { fieldLines, show, table } from '../output.ts';

type Client = Record<string, unknown> & { client_id: string; client_secret?: string };
type Page = { items: Client[]; next_cursor: string | null };

type MetadataFlags = {
  name?: string; scope?: string[]; audience?: string[]; authMethod?: string; grantType?: string[]; ttl?: string; subject?: string;
  quotaPerHour?: string; quotaPerDay?: string;
  jwksUri?: string; jwksFile?: string; signingAlg?: string; tlsSubjectDn?: string; tlsSanDns?: string; tlsSanUri?: string;
  tlsSanIp?: string; tlsSanEmail?: string; metadata?: string;
};

/** The RFC 7591 fields the flags name; --metadata supplies any other field, and the flags win over it. */
function addMetadataOptions(cmd: Command): Command {
  return cmd
    .option('--name <name>', 'client_name')
    .option('--scope <scopes>', 'scope; space-separated, or repeat the option', collect)
    .option('--audience <uri>', 'an audience the client may ask for; repeat for several', collect)
    .option('--auth-method <method>', 'token_endpoint_auth_method (client_secret_basic, client_secret_post, private_key_jwt, tls_client_auth, self_signed_tls_client_auth, federated_jwt)')
    .option('--grant-type <type>', 'grant_types; repeat for several', collect)
    .option('--ttl <duration>', 'access_token_ttl: 900, 15m, 1h')
    .option('--quota-per-hour <n>', 'token_quota_per_hour: tokens per hour, 0 for none, default for the deployment\'s TOKEN_QUOTA_PER_HOUR')
    .option('--quota-per-day <n>', 'token_quota_per_day: tokens per day, 0 for none, default for the deployment\'s TOKEN_QUOTA_PER_DAY')
    .option('--subject <sub>', 'sub of its tokens (default: the client id)')
    .option('--jwks-uri <uri>', 'jwks_uri (private_key_jwt, self_signed_tls_client_auth)')
    .option('--jwks-file <file>', 'jwks: a JWK Set read from a JSON file')
    .option('--signing-alg <alg>', 'token_endpoint_auth_signing_alg')
    .option('--tls-subject-dn <dn>', 'tls_client_auth_subject_dn')
    .option('--tls-san-dns <name>', 'tls_client_auth_san_dns')
    .option('--tls-san-uri <uri>', 'tls_client_auth_san_uri (a SPIFFE ID, say)')
    .option('--tls-san-ip <ip>', 'tls_client_auth_san_ip')
    .option('--tls-san-email <email>', 'tls_client_auth_san_email')
    .option('--metadata <json>', 'further client metadata as a JSON object, or @file');
}

function metadataBody(flags: MetadataFlags): Record<string, unknown> {
  const body: Record<string, unknown> = { ...jsonObjectOption('--metadata', flags.metadata) };
  const set = (field: string, value: unknown) => {
    if (value !== undefined) body[field] = value;
  };
  set('client_name', flags.name);
  set('scope', flags.scope?.join(' ').split(/\s+/).filter(Boolean).join(' '));
  set('audience', flags.audience);
  set('token_endpoint_auth_method', flags.authMethod);
  set('grant_types', flags.grantType);
  set('access_token_ttl', durationOption('--ttl', flags.ttl));
  set('token_quota_per_hour', quotaOption('--quota-per-hour', flags.quotaPerHour));
  set('token_quota_per_day', quotaOption('--quota-per-day', flags.quotaPerDay));
  set('subject', flags.subject);
  set('jwks_uri', flags.jwksUri);
  set('jwks', flags.jwksFile === undefined ? undefined : jsonObjectOption('--jwks-file', `@${flags.jwksFile}`));
  set('token_endpoint_auth_signing_alg', flags.signingAlg);
  set('tls_client_auth_subject_dn', flags.tlsSubjectDn);
  set('tls_client_auth_san_dns', flags.tlsSanDns);
  set('tls_client_auth_san_uri', flags.tlsSanUri);
  set('tls_client_auth_san_ip', flags.tlsSanIp);
  set('tls_client_auth_san_email', flags.tlsSanEmail);
  return body;
}

const clientPath = (id: string) => `/admin/clients/${encodeURIComponent(id)}`;

/** The client without null fields, for reading; --json shows it whole. */
function describe(client: Client): string {
  const { client_secret: _s, client_secret_expires_at: _e, ...rest } = client;
  return fieldLines(Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== null)));
}

/**
 * A secret, when the answer carries one, goes alone to stdout (so `SECRET=$(…)` captures it) and the
 * description to stderr; otherwise the client itself is the result.
 */
function printClient(ctx: CliContext, client: Client, what: string): void {
  if (client.client_secret === undefined) {
    ctx.out.note(`client "${client.client_id}" ${what}`);
    ctx.out.result(client, () => describe(client));
    return;
  }
  ctx.out.note(`client "${client.client_id}" ${what}; its secret, shown only this once (store it now):`);
  ctx.out.result(client, () => client.client_secret!);
}

async function allPages(ctx: CliContext, limit: number | undefined): Promise<Page> {
  const items: Client[] = [];
  let cursor: string | undefined;
  do {
    const page = await ctx.admin().call<Page>('GET', '/admin/clients', { query: { limit, cursor } });
    items.push(...page.items);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return { items, next_cursor: null };
}

export function clientsCommand(act: Act): Command {
  const clients = new Command('clients').description('register and manage clients through the admin API (admin:clients)');

  addMetadataOptions(clients.command('create').argument('[client_id]', 'the id to register (default: one the service generates)'))
    .description('register a client; a secret client\'s secret is printed once, alone on stdout')
    .action(act(async (ctx, clientId: string | undefined, flags: MetadataFlags) => {
      const body = metadataBody(flags);
      if (clientId !== undefined) body.client_id = clientId;
      body.client_name ??= clientId;
      if (body.client_name === undefined) throw new UsageError('clients create: give a client_id or --name');
      const client = await ctx.admin().call<Client>('POST', '/admin/clients', { body });
      printClient(ctx, client, `registered (${client.token_endpoint_auth_method})`);
    }));

  clients.command('list')
    .description('list the clients')
    .option('--limit <n>', 'clients per page (1-100)')
    .option('--cursor <cursor>', 'the next_cursor of an earlier page')
    .option('--all', 'follow every page')
    .action(act(async (ctx, flags: { limit?: string; cursor?: string; all?: boolean }) => {
      const limit = positiveInteger('--limit', flags.limit);
      if (flags.all && flags.cursor) throw new UsageError('clients list: --all and --cursor exclude each other');
      const page = flags.all ? await allPages(ctx, limit) : await ctx.admin().call<Page>('GET', '/admin/clients', { query: { limit, cursor: flags.cursor } });
      ctx.out.result(page, () => table(['CLIENT_ID', 'AUTH_METHOD', 'STATUS', 'SCOPE', 'AUDIENCE'], page.items.map((c) => [
        c.client_id, show(c.token_endpoint_auth_method), c.disabled ? 'disabled' : 'enabled', show(c.scope), show(c.audience)])));
      if (page.next_cursor) ctx.out.note(`more clients: --cursor ${page.next_cursor}`);
    }));

  clients.command('show').argument('<client_id>')
    .description('show one client')
    .action(act(async (ctx, clientId: string) => {
      const client = await ctx.admin().call<Client>('GET', clientPath(clientId));
      ctx.out.result(client, () => describe(client));
    }));

  addMetadataOptions(clients.command('update').argument('<client_id>'))
    .description('change a client (PATCH: only the fields given)')
    .option('--disable', 'refuse its token requests and admin tokens')
    .option('--enable', 'accept them again')
    .action(act(async (ctx, clientId: string, flags: MetadataFlags & { disable?: boolean; enable?: boolean }) => {
      if (flags.disable && flags.enable) throw new UsageError('clients update: --disable and --enable exclude each other');
      const body = metadataBody(flags);
      if (flags.disable || flags.enable) body.disabled = Boolean(flags.disable);
      if (Object.keys(body).length === 0) throw new UsageError('clients update: nothing to change (see clients update --help)');
      const client = await ctx.admin().call<Client>('PATCH', clientPath(clientId), { body });
      printClient(ctx, client, client.client_secret === undefined ? 'updated' : 'updated and given a new secret (its method changed)');
    }));

  clients.command('rotate-secret').argument('<client_id>')
    .description('give a client a new secret, printed once, alone on stdout')
    .option('--grace <duration>', 'keep the previous secret working this long (e.g. 1h; default: stops at once)')
    .action(act(async (ctx, clientId: string, flags: { grace?: string }) => {
      const grace = durationOption('--grace', flags.grace);
      const rotated = await ctx.admin().call<{ client_id: string; client_secret: string; previous_secret_expires_at: string | null }>(
        'POST', `${clientPath(clientId)}/secret`, grace === undefined ? {} : { body: { grace_seconds: grace } });
      const previous = rotated.previous_secret_expires_at ? `the previous one works until ${rotated.previous_secret_expires_at}` : 'the previous one has stopped working';
      ctx.out.note(`client "${rotated.client_id}" has a new secret; ${previous}. The new secret, shown only this once:`);
      ctx.out.result(rotated, () => rotated.client_secret);
    }));

  for (const [name, disabled] of [['disable', true], ['enable', false]] as const) {
    clients.command(name).argument('<client_id>')
      .description(disabled ? 'refuse a client\'s token requests and admin tokens at once' : 'accept a disabled client again')
      .action(act(async (ctx, clientId: string) => {
        const client = await ctx.admin().call<Client>('PATCH', clientPath(clientId), { body: { disabled } });
        ctx.out.result(client, () => `client "${client.client_id}" ${disabled ? 'disabled' : 'enabled'}`);
      }));
  }

  clients.command('delete').argument('<client_id>')
    .description('delete a client; its tokens stop being accepted by the admin API at once')
    .action(act(async (ctx, clientId: string) => {
      await ctx.admin().call('DELETE', clientPath(clientId));
      ctx.out.result({ client_id: clientId, deleted: true }, () => `client "${clientId}" deleted`);
    }));
  return clients;
}
