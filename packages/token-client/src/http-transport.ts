import http from 'node:http';
import https from 'node:https';

export type TransportOptions = {
  /** An https.Agent, e.g. one holding the client certificate for tls_client_auth. */
  agent?: http.Agent;
  /** An undici Dispatcher (undici.Agent with `connect: { cert, key }`), passed to fetch. */
  dispatcher?: unknown;
  /** Default the global fetch; used when no agent is given. */
  fetch?: typeof fetch;
  /** Default 10 s. */
  timeoutMs?: number;
  /** Refuse a response body larger than this. Default 64 KiB. */
  maxBytes?: number;
};

export type HttpReply = { status: number; header(name: string): string | null; text: string };
export type HttpRequest = { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string };

function tooLarge(limit: number) {
  return new Error(`response larger than ${limit} bytes`);
}

async function viaFetch(url: URL, request: HttpRequest, options: TransportOptions, timeoutMs: number, maxBytes: number): Promise<HttpReply> {
  // Node's fetch takes an undici dispatcher beside the standard fields.
  const init = {
    method: request.method,
    headers: request.headers,
    redirect: 'error',
    signal: AbortSignal.timeout(timeoutMs),
    ...(request.body !== undefined && { body: request.body }),
    ...(options.dispatcher !== undefined && { dispatcher: options.dispatcher }),
  } as RequestInit;
  const response = await (options.fetch ?? fetch)(url, init);
  const declared = response.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) {
    await response.body?.cancel();
    throw tooLarge(maxBytes);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (response.body) {
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel();
        throw tooLarge(maxBytes);
      }
      chunks.push(value);
    }
  }
  return { status: response.status, header: (name) => response.headers.get(name), text: Buffer.concat(chunks).toString('utf8') };
}

function viaAgent(url: URL, request: HttpRequest, agent: http.Agent, timeoutMs: number, maxBytes: number): Promise<HttpReply> {
  const send = url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = send(url, { method: request.method, headers: request.headers, agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let total = 0;
      res.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > maxBytes) {
          req.destroy(tooLarge(maxBytes));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({
        status: res.statusCode ?? 0,
        header: (name) => {
          const value = res.headers[name.toLowerCase()];
          return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
        },
        text: Buffer.concat(chunks).toString('utf8'),
      }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(request.body);
  });
}

/** One HTTP exchange with a bounded body and a timeout, over an agent (node:https) or fetch. */
export function createTransport(options: TransportOptions) {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxBytes = options.maxBytes ?? 64 * 1024;
  return (url: URL, request: HttpRequest): Promise<HttpReply> =>
    options.agent ? viaAgent(url, request, options.agent, timeoutMs, maxBytes) : viaFetch(url, request, options, timeoutMs, maxBytes);
}

export type Transport = ReturnType<typeof createTransport>;
