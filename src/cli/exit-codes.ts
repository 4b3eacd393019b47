/**
 * The exit codes a script can rely on (README "Command line"). A service that answers with an
 * error is 1, 4 or 5 by what it said; one that cannot answer at all, or says "try again", is 3.
 */
export const EXIT = {
  ok: 0,
  /** The service or the database refused or failed the operation; `audit verify` found the log altered. */
  failed: 1,
  /** The command line itself is wrong: unknown command or option, a missing or malformed value. */
  usage: 2,
  /** The service or the database cannot be reached, or answered 503 / 429: try again later. */
  unavailable: 3,
  /** The credentials were refused (401, invalid_client) or lack the scope the call needs (403). */
  unauthorized: 4,
  /** The client, key or other resource named does not exist (404). */
  notFound: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the command line reports as one line (or one JSON object with --json) and an exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: ExitCode, readonly details: Record<string, unknown> = {}) {
    super(message);
  }
}

/** A malformed option value, found by the command itself after commander parsed the line. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}
