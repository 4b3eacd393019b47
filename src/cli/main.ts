// The `identity-backend` command line (bin/identity-backend.js runs this file from dist/).
import { runCli } from './program.ts';

/** Resolves once everything written so far has left (pipes are asynchronous on macOS). */
const flushed = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => stream.write('', () => resolve()));

async function exit(code: number): Promise<never> {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}

// A reader that stops early (`identity-backend clients list | head -1`) is not a failure of the command.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}

runCli(process.argv.slice(2)).then(
  (code) => (code === 'serving' ? undefined : exit(code)),
  (error: unknown) => {
    process.stderr.write(`identity-backend: ${error instanceof Error ? error.message : String(error)}\n`);
    return exit(1);
  },
);
