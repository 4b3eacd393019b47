import { CliError, EXIT, type ExitCode } from './exit-codes.ts';
import { readJson, requestToken, send, type ClientCredentials, type Connection } from './service-client.ts';

/** A given admin token, or an admin client's credentials from which the command line gets its own. */
export type AdminAuth = { token: string } | { client: ClientCredentials };

type Query = Record<string, string | number | undefined>;

export type AdminApi = {
  /** One admin call; the parsed JSON body (undefined for 204). Any problem answer throws a CliError. */
  call<T = Record<string, unknown>>(method: string, path: string, opts?: { query?: Query; body?: unknown }): Promise<T>;
  /** A long-lived GET (no timeout once the headers are in), for the audit event stream. */
  open(path: string, headers?: Record<string, string>): Promise<Response>;
};

function exitCodeFor(status: number): ExitCode {
  if (status === 401 || status === 403) return EXIT.unauthorized;
  if (status === 404) return EXIT.notFound;
  if (status === 429 || status === 502 || status === 503 || status === 504) return EXIT.unavailable;
  return EXIT.failed;
}

/** An RFC 9457 problem (or any other error answer) as one line and an exit code. */
export async function problemError(res: Response): Promise<CliError> {
  const body = await readJson(res);
  const detail = typeof body?.detail === 'string' ? body.detail : typeof body?.title === 'string' ? body.title : undefined;
  const params = Array.isArray(body?.invalid_params) ? body.invalid_params as Array<{ name?: unknown; reason?: unknown }> : [];
  const listed = params.map((p) => `${String(p.name)}: ${String(p.reason)}`).filter((text) => !detail?.includes(text));
  const message = [detail ?? `the service answered HTTP ${res.status}`, ...listed].join('; ');
  return new CliError(`${message} (HTTP ${res.status})`, exitCodeFor(res.status), {
    status: res.status,
    ...(typeof body?.type === 'string' && { type: body.type }),
    ...(params.length > 0 && { invalid_params: params }),
  });
}

/**
 * The admin API of a running service. With client credentials the token is asked for once per
 * command, for the audience `<issuer>/admin` read from the service's metadata (RFC 8414), and asked
 * for again once if the service stops accepting it (a long `audit tail` outlives a token).
 */
export function createAdminApi(conn: Connection, auth: AdminAuth): AdminApi {
  let token = 'token' in auth ? auth.token : undefined;

  async function fetchToken(): Promise<string> {
    if (!('client' in auth)) throw new Error('unreachable: a given token is never refreshed');
    const metadata = await send(conn, '/.well-known/oauth-authorization-server', { headers: { accept: 'application/json' } });
    if (!metadata.ok) throw await problemError(metadata);
    const issuer = (await readJson(metadata))?.issuer;
    if (typeof issuer !== 'string') throw new CliError('the service metadata has no issuer', EXIT.failed);
    const answer = await requestToken(conn, auth.client, [['audience', `${issuer}/admin`]]);
    return answer.access_token;
  }

  async function authorized(path: string, init: RequestInit & { timeout?: 'all' | 'headers' }): Promise<Response> {
    const attempt = async () => {
      token ??= await fetchToken();
      return send(conn, path, { ...init, headers: { ...init.headers as Record<string, string>, authorization: `Bearer ${token}` } });
    };
    let res = await attempt();
    if (res.status === 401 && 'client' in auth) {
      await res.body?.cancel();
      token = undefined;
      res = await attempt();
    }
    return res;
  }

  return {
    async call<T>(method: string, path: string, opts: { query?: Query; body?: unknown } = {}): Promise<T> {
      const query = new URLSearchParams();
      for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) query.set(k, String(v));
      const target = query.size ? `${path}?${query}` : path;
      const res = await authorized(target, {
        method,
        headers: { accept: 'application/json', ...(opts.body !== undefined && { 'content-type': 'application/json' }) },
        ...(opts.body !== undefined && { body: JSON.stringify(opts.body) }),
      });
      if (!res.ok) throw await problemError(res);
      if (res.status === 204) return undefined as T;
      const body = await readJson(res);
      if (body === undefined) throw new CliError(`the service answered ${method} ${path} with a body that is not JSON`, EXIT.failed);
      return body as T;
    },
    async open(path, headers = {}) {
      const res = await authorized(path, { method: 'GET', headers: { accept: 'text/event-stream', ...headers }, timeout: 'headers' });
      if (!res.ok) throw await problemError(res);
      return res;
    },
  };
}
