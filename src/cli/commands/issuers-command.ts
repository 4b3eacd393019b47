import { Command } from 'commander';
import type { Act, CliContext } from '../cli-context.ts';
import { collect, jsonObjectOption } from '../options.ts';
import { fieldLines, show, table } from '../output.ts';

type Issuer = Record<string, unknown> & { id: string; issuer: string };

type IssuerFlags = { jwksUri?: string; jwksFile?: string; audience?: string[]; alg?: string[]; subjectClaim?: string; maxTokenAge?: string; description?: string; metadata?: string };

const issuerPath = (id: string) => `/admin/trusted-issuers/${encodeURIComponent(id)}`;

function addIssuerOptions(cmd: Command): Command {
  return cmd
    .option('--jwks-uri <uri>', 'where its keys are published (fetched with the limits of a client jwks_uri)')
    .option('--jwks-file <file>', 'its keys: a JWK Set read from a JSON file (e.g. kubectl get --raw /openid/v1/jwks)')
    .option('--audience <value>', 'an audience its tokens must carry; repeat for several', collect)
    .option('--alg <alg>', 'an algorithm its tokens may be signed with; repeat for several (default RS256)', collect)
    .option('--subject-claim <claim>', 'the claim that becomes sub (default sub)')
    .option('--max-token-age <seconds>', 'the longest exp - iat, and age, its tokens may have')
    .option('--description <text>', 'what it is, for operators')
    .option('--metadata <json>', 'further fields as a JSON object, or @file');
}

function issuerBody(flags: IssuerFlags): Record<string, unknown> {
  const body: Record<string, unknown> = { ...jsonObjectOption('--metadata', flags.metadata) };
  const set = (field: string, value: unknown) => {
    if (value !== undefined) body[field] = value;
  };
  set('jwks_uri', flags.jwksUri);
  set('jwks', flags.jwksFile === undefined ? undefined : jsonObjectOption('--jwks-file', `@${flags.jwksFile}`));
  set('audiences', flags.audience);
  set('algorithms', flags.alg);
  set('subject_claim', flags.subjectClaim);
  set('max_token_age', flags.maxTokenAge === undefined ? undefined : Number(flags.maxTokenAge));
  set('description', flags.description);
  return body;
}

const print = (ctx: CliContext, issuer: Issuer) => ctx.out.result(issuer, () => fieldLines(issuer));

/** Trusted issuers (token exchange subjects, federated client credentials) through the admin API. */
export function issuersCommand(act: Act): Command {
  const issuers = new Command('issuers').description('trusted external issuers: reading needs admin:clients, changes need every admin scope');
  issuers.command('list').description('the registered trusted issuers')
    .action(act(async (ctx) => {
      const page = await ctx.admin().call<{ items: Issuer[] }>('GET', '/admin/trusted-issuers', { query: { limit: '100' } });
      ctx.out.result(page, () => table(['ID', 'ISSUER', 'AUDIENCES', 'DISABLED'],
        page.items.map((i) => [i.id, i.issuer, show(i.audiences), show(i.disabled)])));
    }));
  issuers.command('show').argument('<id>')
    .action(act(async (ctx, id: string) => print(ctx, await ctx.admin().call<Issuer>('GET', issuerPath(id)))));
  addIssuerOptions(issuers.command('create').argument('<issuer>', 'its exact iss value (https://…), or spiffe://<trust domain>'))
    .description('trust an issuer: its tokens may then be exchanged, or authenticate federated_jwt clients')
    .action(act(async (ctx, issuer: string, flags: IssuerFlags) => {
      print(ctx, await ctx.admin().call<Issuer>('POST', '/admin/trusted-issuers', { body: { issuer, ...issuerBody(flags) } }));
    }));
  addIssuerOptions(issuers.command('update').argument('<id>')).option('--disable', 'stop trusting it (its tokens are refused at once)').option('--enable', 'trust it again')
    .action(act(async (ctx, id: string, flags: IssuerFlags & { disable?: boolean; enable?: boolean }) => {
      const body = { ...issuerBody(flags), ...(flags.disable && { disabled: true }), ...(flags.enable && { disabled: false }) };
      print(ctx, await ctx.admin().call<Issuer>('PATCH', issuerPath(id), { body }));
    }));
  issuers.command('delete').argument('<id>')
    .action(act(async (ctx, id: string) => {
      await ctx.admin().call('DELETE', issuerPath(id));
      ctx.out.result({ deleted: id }, () => `deleted ${id}`);
    }));
  return issuers;
}
