import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Paths redacted wherever they appear, as a second line of defence: request logging already
 * records no headers or bodies, and no code logs a secret, assertion, token or private key.
 */
const REDACT_PATHS = [
  'authorization',
  '*.authorization',
  'req.headers',
  'client_secret',
  '*.client_secret',
  'client_assertion',
  '*.client_assertion',
  'access_token',
  '*.access_token',
  'secret',
  '*.secret',
  'privateKey',
  '*.privateKey',
  'd',
  '*.d',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
