import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { isNonPublicAddress } from './non-public-address.ts';

export class GuardedFetchError extends Error {}

const NON_PUBLIC_CODE = 'ENONPUBLIC';

/** The resolver's shape (node:dns lookup); tests pass one that answers what they need. */
export type Resolver = (hostname: string, options: LookupOptions & { all: true }, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

export type GuardedFetchOptions = {
  timeoutMs: number;
  /** The body is read as a stream and the connection dropped at this many bytes. */
  maxBytes: number;
  /** Development only (ALLOW_INSECURE_JWKS_URI): http:// and non-public addresses. */
  allowInsecure: boolean;
  accept: string;
  resolve?: Resolver;
};

/**
 * Checks the addresses a name resolves to inside the connection's own lookup, so the address
 * checked is the address connected to: a name that passed a check at registration and now
 * resolves to 127.0.0.1 or 169.254.169.254 (DNS rebinding) is refused before any packet is sent.
 */
function publicOnlyLookup(resolve: Resolver): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      if (!addresses.length || addresses.some((a) => isNonPublicAddress(a.address))) {
        const refused: NodeJS.ErrnoException = new Error(`${hostname} resolves to a loopback, private or link-local address`);
        refused.code = NON_PUBLIC_CODE;
        return callback(refused, '', 0);
      }
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

/**
 * GET of a small document at a URL someone else chose: https only, no redirects, a timeout for the
 * whole exchange, public addresses only (checked at connect time), and a body cut off at maxBytes.
 */
export function guardedFetch(uri: string, opts: GuardedFetchOptions): Promise<string> {
  const url = new URL(uri);
  if (url.protocol !== 'https:' && !(opts.allowInsecure && url.protocol === 'http:')) return Promise.reject(new GuardedFetchError('the URL must use https'));
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  // An IP literal is connected to without any lookup: check it here.
  if (!opts.allowInsecure && isIP(literal) !== 0 && isNonPublicAddress(literal)) return Promise.reject(new GuardedFetchError('the URL names a loopback, private or link-local address'));
  const resolve = opts.resolve ?? (dnsLookup as unknown as Resolver);
  return new Promise<string>((settle, reject) => {
    const fail = (message: string, cause?: unknown) => {
      reject(new GuardedFetchError(message, { cause }));
      req.destroy();
    };
    const req = (url.protocol === 'https:' ? https : http).request(url, {
      method: 'GET',
      agent: false,
      headers: { accept: opts.accept },
      signal: AbortSignal.timeout(opts.timeoutMs),
      ...(!opts.allowInsecure && { lookup: publicOnlyLookup(resolve) }),
    }, (res) => {
      const status = res.statusCode ?? 0;
      // 3xx included: redirects are not followed.
      if (status < 200 || status > 299) return fail(`the server answered ${status}`);
      if (Number(res.headers['content-length'] ?? 0) > opts.maxBytes) return fail('the document is too large');
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > opts.maxBytes) return fail('the document is too large');
        chunks.push(chunk);
      });
      res.on('end', () => settle(Buffer.concat(chunks).toString('utf8')));
      res.on('error', (error) => fail('the response was cut short', error));
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      fail(error.code === NON_PUBLIC_CODE ? 'the URL resolves to a loopback, private or link-local address' : 'the URL could not be fetched', error);
    });
    req.end();
  });
}
