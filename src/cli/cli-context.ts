import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { createAdminApi, type AdminApi, type AdminAuth } from './admin-api.ts';
import { UsageError, type ExitCode } from './exit-codes.ts';
import type { Output } from './output.ts';
import type { Connection } from './service-client.ts';

/** The options every command accepts, before or after its name. */
export type GlobalOptions = {
  url: string;
  adminClientId: string;
  adminSecret?: string;
  adminSecretFile?: string;
  adminToken?: string;
  timeout: string;
  json?: boolean;
};

export function addGlobalOptions(program: Command): Command {
  return program
    .addOption(new Option('--url <url>', 'the running service').env('IDENTITY_URL').default('http://localhost:8080'))
    .addOption(new Option('--admin-client-id <id>', 'admin client whose token the command gets').env('IDENTITY_ADMIN_CLIENT_ID').default('admin'))
    .addOption(new Option('--admin-secret <secret>', 'its secret (prefer the variable: flags show in ps)').env('IDENTITY_ADMIN_SECRET'))
    .addOption(new Option('--admin-secret-file <file>', 'read the secret from a file (e.g. keys/bootstrap-admin-secret)').env('IDENTITY_ADMIN_SECRET_FILE'))
    .addOption(new Option('--admin-token <token>', 'an admin access token to use instead of a secret').env('IDENTITY_ADMIN_TOKEN'))
    .addOption(new Option('--timeout <seconds>', 'give up on a request after this long').default('30'))
    .option('--json', 'print the result as JSON (errors as one JSON object on stderr)');
}

/** What a command's action is given. */
export type CliContext = {
  out: Output;
  globals: GlobalOptions;
  connection(): Connection;
  /** The admin API of the service at --url, with the admin credentials given; a usage error without any. */
  admin(): AdminApi;
};

/** The first line of a file, without its line end: how a secret is kept in a file (KEYS_DIR/bootstrap-admin-secret). */
export function readSecretFile(file: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${what} file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const secret = text.split(/\r?\n/)[0]!.trim();
  if (!secret) throw new UsageError(`${what} file ${file} is empty`);
  return secret;
}

export function createContext(command: Command, out: Output): CliContext {
  const globals = command.optsWithGlobals<GlobalOptions>();
  let connection: Connection | undefined;
  const context: CliContext = {
    out,
    globals,
    connection() {
      if (connection) return connection;
      let url: URL;
      try {
        url = new URL(globals.url);
      } catch {
        throw new UsageError(`--url: ${JSON.stringify(globals.url)} is not a URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--url: must be an http:// or https:// URL');
      const seconds = Number(globals.timeout);
      if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError('--timeout: must be a positive number of seconds');
      connection = { url: globals.url, timeoutMs: seconds * 1000 };
      return connection;
    },
    admin() {
      return createAdminApi(context.connection(), adminAuth(globals));
    },
  };
  return context;
}

/** A given token first, then a secret, then a secret file (documented precedence). */
function adminAuth(globals: GlobalOptions): AdminAuth {
  if (globals.adminToken) return { token: globals.adminToken };
  const secret = globals.adminSecret ?? (globals.adminSecretFile ? readSecretFile(globals.adminSecretFile, '--admin-secret-file') : undefined);
  if (secret) return { client: { clientId: globals.adminClientId, secret } };
  throw new UsageError('no admin credentials: set IDENTITY_ADMIN_SECRET (or --admin-secret-file, or IDENTITY_ADMIN_TOKEN)');
}

/** A command action: the context first, then commander's arguments; returns the exit code (default 0). */
export type Action<A extends unknown[]> = (ctx: CliContext, ...args: A) => Promise<ExitCode | void>;

/** Wraps an Action as commander's action handler (program.ts owns the exit code it returns). */
export type Act = <A extends unknown[]>(action: Action<A>) => (...args: unknown[]) => Promise<void>;
