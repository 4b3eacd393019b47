import { IntrospectionUnavailable } from './errors.js';
import { readLimited } from './read-limited.js';

export type IntrospectionOptions = {
  /** The issuer's RFC 7662 endpoint (its metadata's introspection_endpoint). */
  endpoint: string;
  /** This service's own client at the issuer, allowed to introspect. */
  clientId: string;
  clientSecret: string;
  /** RFC 6749 §2.3.1. Default client_secret_basic. */
  authMethod?: 'client_secret_basic' | 'client_secret_post';
  timeoutMs?: number;
  maxBytes?: number;
  fetch?: typeof fetch;
};

/** RFC 7662 §2.2: `active` and, when active, the token's claims. */
export type IntrospectionResponse = { active: boolean; [member: string]: unknown };

/** RFC 6749 §2.3.1 and Appendix B: id and secret form-urlencoded before they are joined. */
const formEncode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');

/**
 * Asks the issuer whether a token is still active (RFC 7662 §2.1): POST token and token_type_hint,
 * authenticated as this service's client. Anything but a 200 with a JSON object holding a boolean
 * `active` is IntrospectionUnavailable, so a route that needs the answer fails closed.
 */
export function createIntrospector(options: IntrospectionOptions) {
  const fetchImpl = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxBytes = options.maxBytes ?? 64 * 1024;
  const basic = (options.authMethod ?? 'client_secret_basic') === 'client_secret_basic';
  const authorization = `Basic ${Buffer.from(`${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`).toString('base64')}`;

  return async function introspect(token: string): Promise<IntrospectionResponse> {
    const body = new URLSearchParams({ token, token_type_hint: 'access_token' });
    if (!basic) {
      body.set('client_id', options.clientId);
      body.set('client_secret', options.clientSecret);
    }
    let response: Response;
    try {
      response = await fetchImpl(options.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...(basic && { authorization }) },
        body,
        redirect: 'error',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new IntrospectionUnavailable('the introspection endpoint could not be reached', { cause: error });
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new IntrospectionUnavailable(`the introspection endpoint answered ${response.status}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readLimited(response, maxBytes));
    } catch (error) {
      throw new IntrospectionUnavailable('the introspection endpoint sent no readable JSON', { cause: error });
    }
    if (typeof parsed !== 'object' || parsed === null || typeof (parsed as IntrospectionResponse).active !== 'boolean') {
      throw new IntrospectionUnavailable('the introspection response has no boolean "active"');
    }
    return parsed as IntrospectionResponse;
  };
}

export type Introspector = ReturnType<typeof createIntrospector>;
