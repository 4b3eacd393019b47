import { CliError, EXIT, type ExitCode } from './exit-codes.ts';

/** Where the service is and how long one request may take. */
export type Connection = { url: string; timeoutMs: number };

export type ClientCredentials = { clientId: string; secret: string };

/** RFC 6749 §5.1 success body, as far as the command line reads it. */
export type TokenResponse = { access_token: string; token_type: string; expires_in?: number; scope?: string } & Record<string, unknown>;

/** `base` + `path`, keeping a path prefix in the base URL (a service mounted under /identity). */
export function endpoint(conn: Connection, path: string): string {
  return `${conn.url.replace(/\/+$/, '')}${path}`;
}

/**
 * One HTTP exchange; failing to get any answer (refused, unresolvable, timed out) is exit code 3.
 * The timeout covers the whole exchange, or with `timeout: 'headers'` only the wait for the headers
 * (a stream then stays open as long as the service keeps it).
 */
export async function send(conn: Connection, path: string, init: RequestInit & { timeout?: 'all' | 'headers' } = {}): Promise<Response> {
  const { timeout = 'all', ...rest } = init;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException('timed out', 'TimeoutError')), conn.timeoutMs);
  timer.unref();
  try {
    const res = await fetch(endpoint(conn, path), { ...rest, redirect: 'manual', signal: controller.signal });
    if (timeout === 'headers') clearTimeout(timer);
    return res;
  } catch (error) {
    clearTimeout(timer);
    throw unreachable(conn, error);
  }
}

export function unreachable(conn: Connection, error: unknown): CliError {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  const origin = safeOrigin(conn.url);
  if (e.name === 'TimeoutError') return new CliError(`no answer from ${origin} within ${conn.timeoutMs / 1000} s`, EXIT.unavailable);
  const why = e.cause?.code ?? e.cause?.message ?? e.message ?? String(error);
  return new CliError(`cannot reach ${origin}: ${why}`, EXIT.unavailable);
}

/** The URL without any user:password part, for messages. */
function safeOrigin(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return 'the service';
  }
}

/** RFC 6749 §2.3.1: the client id and secret are form-encoded before they are joined and base64-encoded. */
function basicAuthorization({ clientId, secret }: ClientCredentials): string {
  const form = (text: string) => encodeURIComponent(text).replaceAll('%20', '+');
  return `Basic ${Buffer.from(`${form(clientId)}:${form(secret)}`).toString('base64')}`;
}

/** Exit code for an OAuth error answer (RFC 6749 §5.2) of the token endpoint. */
function oauthExitCode(status: number, code: string | undefined): ExitCode {
  if (status === 503 || status === 429 || code === 'temporarily_unavailable') return EXIT.unavailable;
  if (status === 401 || code === 'invalid_client') return EXIT.unauthorized;
  return EXIT.failed;
}

/** POST /token with client_credentials and client_secret_basic (or _post); throws a CliError on any refusal. */
export async function requestToken(conn: Connection, client: ClientCredentials, params: Array<[string, string]>, opts: { post?: boolean } = {}): Promise<TokenResponse> {
  const form = new URLSearchParams([['grant_type', 'client_credentials'], ...params]);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (opts.post) {
    form.set('client_id', client.clientId);
    form.set('client_secret', client.secret);
  } else {
    headers.authorization = basicAuthorization(client);
  }
  const res = await send(conn, '/token', { method: 'POST', headers, body: form });
  const body = await readJson(res);
  if (res.ok && typeof body?.access_token === 'string') return body as TokenResponse;
  const code = typeof body?.error === 'string' ? body.error : undefined;
  const description = typeof body?.error_description === 'string' ? body.error_description : undefined;
  const what = code ? `${code}${description ? `: ${description}` : ''}` : `HTTP ${res.status}`;
  throw new CliError(`the token endpoint refused client "${client.clientId}" (${what})`, oauthExitCode(res.status, code), {
    status: res.status, ...(code && { oauth_error: code }), ...(description && { error_description: description }),
  });
}

/** The body as JSON, or undefined when it is not JSON (a proxy's HTML error page, say). */
export async function readJson(res: Response): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await res.text();
  } catch {
    throw new CliError('the answer was cut off (timed out or the connection closed)', EXIT.unavailable);
  }
  if (text === '') return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    return value !== null && typeof value === 'object' ? value as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}
