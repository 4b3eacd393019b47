import { Command, CommanderError } from 'commander';
import { DomainError } from '../shared/errors.ts';
import { addGlobalOptions, createContext, type Action } from './cli-context.ts';
import { auditCommand } from './commands/audit-command.ts';
import { clientsCommand } from './commands/clients-command.ts';
import { adminCommand, migrateCommand, serveCommand } from './commands/database-commands.ts';
import { issuersCommand } from './commands/issuers-command.ts';
import { keysCommand } from './commands/keys-command.ts';
import { tokenCommand } from './commands/token-command.ts';
import { CliError, EXIT, type ExitCode } from './exit-codes.ts';
import { createOutput, type Output } from './output.ts';

const EXIT_CODES_HELP = `
Exit codes:
  0  done
  1  refused or failed (the service or database said no; audit verify: the log was altered)
  2  usage error (unknown command or option, missing or malformed value, no credentials)
  3  cannot reach the service or database, or it answered 503/429: try again later
  4  credentials refused (401, invalid_client) or missing scope (403)
  5  not found (no such client or key)

Commands other than serve, migrate, admin, keys rewrap|kek-status and keys --database talk to the admin API at --url.`;

/** Node's and Prisma's (P1001) codes for a database that cannot be reached. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET', 'EAI_AGAIN', 'P1001']);

type ErrorLike = { code?: unknown; cause?: unknown; message?: unknown; address?: unknown; port?: unknown } | undefined;

const firstLine = (text: string) => text.split('\n').map((l) => l.trim()).find(Boolean) ?? text;

/** For the commands that work on the database directly: the reasons worth one clear line of their own. */
function databaseProblem(error: unknown): CliError | undefined {
  for (let e = error as ErrorLike, depth = 0; e && depth < 5; e = e.cause as ErrorLike, depth++) {
    const message = typeof e.message === 'string' ? e.message : '';
    if ((typeof e.code === 'string' && UNREACHABLE_CODES.has(e.code)) || /Can't reach database server/.test(message)) {
      // Prisma names the server in its message; a driver's socket error carries it as address and port.
      const where = /Can't reach database server at `?([^`\s]+)`?/.exec(message)?.[1]
        ?? (typeof e.address === 'string' && e.port !== undefined ? `${e.address}:${String(e.port)}` : undefined);
      return new CliError(`cannot reach the database${where ? ` at ${where}` : ''} (${typeof e.code === 'string' ? e.code : 'unreachable'})`, EXIT.unavailable);
    }
    // The WebAssembly schema engine's name for SQLITE_BUSY: another process holds the file.
    if (/SocketTimeout|database is locked/.test(message)) {
      return new CliError('the SQLite file is locked by another process (a running service applies its migrations at start-up; stop it to migrate by hand)', EXIT.unavailable);
    }
  }
  return undefined;
}

/** Any failure as the one CliError the user sees: typed errors keep their meaning, anything else is 1. */
export function toCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  const database = databaseProblem(error);
  if (database) return database;
  if (error instanceof DomainError) {
    const code: Record<DomainError['kind'], ExitCode> = {
      not_found: EXIT.notFound, storage_unavailable: EXIT.unavailable, unauthenticated: EXIT.unauthorized, forbidden: EXIT.unauthorized,
      conflict: EXIT.failed, validation_failed: EXIT.failed,
    };
    return new CliError(error.message, code[error.kind]);
  }
  return new CliError(firstLine(error instanceof Error ? error.message : String(error)), EXIT.failed);
}

type RunState = { code: ExitCode; serving: boolean };

export function buildProgram(out: Output, state: RunState): Command {
  const act = <A extends unknown[]>(action: Action<A>) => async (...args: unknown[]) => {
    const command = args.at(-1) as Command;
    state.code = (await action(createContext(command, out), ...args as A)) ?? EXIT.ok;
  };
  const program = new Command('identity-backend')
    .description('command line of the identity-backend token service')
    .showSuggestionAfterError()
    .addHelpText('after', EXIT_CODES_HELP);
  addGlobalOptions(program);
  // exitOverride and configureOutput are copied to each subcommand as it is added, so they come first.
  program.exitOverride().configureOutput({
    writeOut: (text) => process.stdout.write(text),
    writeErr: (text) => process.stderr.write(text),
    outputError: () => undefined,
  });
  program.addCommand(serveCommand(() => { state.serving = true; }));
  program.addCommand(migrateCommand(act));
  program.addCommand(clientsCommand(act));
  program.addCommand(keysCommand(act));
  program.addCommand(issuersCommand(act));
  program.addCommand(auditCommand(act));
  program.addCommand(tokenCommand(act));
  program.addCommand(adminCommand(act));
  for (const command of program.commands) inherit(program, command);
  return program;
}

/** addCommand (unlike command()) copies no settings: each subcommand tree gets the program's. */
function inherit(parent: Command, command: Command): void {
  command.copyInheritedSettings(parent);
  for (const sub of command.commands) inherit(command, sub);
}

/**
 * Runs one command line; resolves to its exit code, or to 'serving' when the service now owns the
 * process. Usage errors never reach the network or the database.
 */
export async function runCli(argv: string[]): Promise<number | 'serving'> {
  // Known before commander parses, so that even a usage error comes out as JSON.
  const json = argv.includes('--json');
  const out = createOutput(json);
  const state: RunState = { code: EXIT.ok, serving: false };
  const program = buildProgram(out, state);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT.ok;
      // A group named without a command (`identity-backend clients`): its help went to stderr.
      if (error.code === 'commander.help') return EXIT.usage;
      out.failure(new CliError(`${error.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')} (see identity-backend --help)`, EXIT.usage));
      return EXIT.usage;
    }
    const failure = toCliError(error);
    out.failure(failure);
    return failure.exitCode;
  }
  return state.serving ? 'serving' : state.code;
}
