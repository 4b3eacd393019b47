import { Command, Option } from 'commander';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { readSecretFile, type Act, type CliContext } from '../cli-context.ts';
import { CliError, EXIT, UsageError } from '../exit-codes.ts';
import { collect } from '../options.ts';
import { fieldLines } from '../output.ts';
import { readJson, requestToken, send, type ClientCredentials } from '../service-client.ts';

type TokenFlags = {
  clientId?: string; clientSecret?: string; clientSecretFile?: string; audience?: string[]; scope?: string[];
  secretPost?: boolean; printToken?: boolean;
};

/** The client named by the flags, or else the admin client of the global options. */
function credentials(ctx: CliContext, flags: TokenFlags): ClientCredentials {
  if (flags.clientId === undefined) {
    const secret = ctx.globals.adminSecret ?? (ctx.globals.adminSecretFile ? readSecretFile(ctx.globals.adminSecretFile, '--admin-secret-file') : undefined);
    if (!secret) throw new UsageError('token: give --client-id with its secret (IDENTITY_CLIENT_SECRET or --client-secret-file), or the admin client\'s (IDENTITY_ADMIN_SECRET)');
    return { clientId: ctx.globals.adminClientId, secret };
  }
  const secret = flags.clientSecret ?? (flags.clientSecretFile ? readSecretFile(flags.clientSecretFile, '--client-secret-file') : undefined);
  if (!secret) throw new UsageError(`token: no secret for client "${flags.clientId}": set IDENTITY_CLIENT_SECRET or --client-secret-file`);
  return { clientId: flags.clientId, secret };
}

/** The token checked against the service's own JWKS (signature, typ at+jwt, exp/nbf), as a verifier would. */
async function verifyAgainstJwks(ctx: CliContext, token: string): Promise<Record<string, unknown>> {
  const conn = ctx.connection();
  const res = await send(conn, '/.well-known/jwks.json', { headers: { accept: 'application/json' } });
  const jwks = await readJson(res);
  if (!res.ok || !Array.isArray(jwks?.keys)) throw new CliError(`the service's JWKS could not be read (HTTP ${res.status})`, EXIT.failed);
  try {
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks as unknown as JSONWebKeySet), { typ: 'at+jwt' });
    return payload as Record<string, unknown>;
  } catch (error) {
    throw new CliError(`the token does not verify against the service's JWKS: ${(error as Error).message}`, EXIT.failed);
  }
}

export function tokenCommand(act: Act): Command {
  return new Command('token')
    .description('get an access token with client_credentials, check it against the JWKS and print its claims')
    .addOption(new Option('--client-id <id>', 'the client (default: the admin client)').env('IDENTITY_CLIENT_ID'))
    .addOption(new Option('--client-secret <secret>', 'its secret (prefer the variable)').env('IDENTITY_CLIENT_SECRET'))
    .addOption(new Option('--client-secret-file <file>', 'read its secret from a file').env('IDENTITY_CLIENT_SECRET_FILE'))
    .option('--audience <uri>', 'audience to ask for; repeat for several', collect)
    .option('--scope <scopes>', 'scope to ask for; space-separated, or repeat the option', collect)
    .option('--secret-post', 'send the secret in the body (client_secret_post) instead of Basic')
    .option('--print-token', 'print only the access token (for TOKEN=$(…))')
    .action(act(async (ctx, flags: TokenFlags) => {
      const client = credentials(ctx, flags);
      const params: Array<[string, string]> = (flags.audience ?? []).map((a) => ['audience', a]);
      const scope = flags.scope?.join(' ').split(/\s+/).filter(Boolean).join(' ');
      if (scope) params.push(['scope', scope]);
      const answer = await requestToken(ctx.connection(), client, params, { post: flags.secretPost });
      const claims = await verifyAgainstJwks(ctx, answer.access_token);
      const header = decodeProtectedHeader(answer.access_token);
      if (flags.printToken) {
        ctx.out.raw(answer.access_token);
        return;
      }
      const result = { ...answer, header, claims };
      ctx.out.result(result, () => [
        fieldLines({ token_type: answer.token_type, expires_in: answer.expires_in, scope: answer.scope, header, verified: `signature and typ checked against ${ctx.globals.url.replace(/\/+$/, '')}/.well-known/jwks.json` }),
        JSON.stringify(claims, null, 2),
      ].join('\n'));
    }));
}
