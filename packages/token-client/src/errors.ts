/**
 * The token endpoint refused, or could not be reached. `error` and `errorDescription` are the
 * server's RFC 6749 §5.2 answer when it gave one; `retryAfterSeconds` is set after a 429 or 503.
 */
export class TokenRequestFailed extends Error {
  readonly status: number | undefined;
  readonly error: string | undefined;
  readonly errorDescription: string | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(message: string, details: { status?: number; error?: string; errorDescription?: string; retryAfterSeconds?: number; cause?: unknown } = {}) {
    super(message, { cause: details.cause });
    this.name = 'TokenRequestFailed';
    this.status = details.status;
    this.error = details.error;
    this.errorDescription = details.errorDescription;
    this.retryAfterSeconds = details.retryAfterSeconds;
  }
}
