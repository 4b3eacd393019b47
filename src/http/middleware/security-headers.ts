import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * helmet's headers, computed once: helmet runs a dozen small middlewares per request to set the
 * same fixed values every time. Running it once against a recording response gives the list;
 * every request then gets that list in one loop. (None of the options used here depends on the request.)
 */
export function securityHeaderList(options: HelmetOptions): ReadonlyArray<readonly [string, string]> {
  const headers: Array<[string, string]> = [];
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers.push([name, Array.isArray(value) ? value.join(', ') : String(value)]);
      return recorder;
    },
    removeHeader() {},
    getHeader: () => undefined,
  };
  let called = false;
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, () => {
    called = true;
  });
  if (!called) throw new Error('helmet did not complete synchronously; its headers cannot be precomputed');
  return headers;
}
