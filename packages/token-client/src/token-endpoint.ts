import { createClientAuthenticator, type ClientAuth } from './client-auth.js';
import { discover, type ServerMetadata } from './discovery.js';
import type { DpopSigner } from './dpop-signer.js';
import { TokenRequestFailed } from './errors.js';
import type { HttpReply, Transport } from './http-transport.js';
import { retryAfterSeconds } from './retry-after.js';

export type AccessToken = {
  accessToken: string;
  /** Bearer, or DPoP when the server bound the token to our DPoP key. */
  tokenType: 'Bearer' | 'DPoP';
  expiresAt: Date;
  scope: string | undefined;
  /** RFC 8693 §2.2.1, for an exchanged token. */
  issuedTokenType: string | undefined;
};

export type TokenEndpointOptions = {
  tokenUrl?: string | undefined;
  issuer?: string | undefined;
  assertionAudience?: string | undefined;
  clientId: string;
  auth: ClientAuth;
  transport: Transport;
  dpop: DpopSigner | undefined;
  now: () => number;
};

const RETRYABLE = new Set([429, 503]);

/**
 * One token request at a time, as the server wants it: its endpoint (given, or discovered once),
 * fresh client credentials and a fresh DPoP proof per request, the DPoP nonce it last sent, and its
 * answer read as an AccessToken or a TokenRequestFailed.
 */
export function createTokenEndpoint(options: TokenEndpointOptions) {
  const { transport, dpop, now } = options;
  const credentials = createClientAuthenticator(options.clientId, options.auth);
  /** RFC 9449 §8: the server's latest DPoP-Nonce, sent in every proof to it. */
  let dpopNonce: string | undefined;
  let metadata: Promise<ServerMetadata> | undefined;

  async function endpoint(): Promise<{ tokenUrl: URL; audience: string }> {
    if (options.tokenUrl) return { tokenUrl: new URL(options.tokenUrl), audience: options.assertionAudience ?? options.issuer ?? options.tokenUrl };
    metadata ??= discover(options.issuer!, transport).catch((error: unknown) => {
      metadata = undefined;
      throw error;
    });
    const m = await metadata;
    return { tokenUrl: new URL(m.token_endpoint), audience: options.assertionAudience ?? m.issuer };
  }

  /** The answer as an AccessToken, or the server's refusal. */
  function readReply(reply: HttpReply): AccessToken {
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(reply.text) as Record<string, unknown>;
    } catch { /* not JSON: reported below */ }
    if (reply.status !== 200) {
      const error = typeof body.error === 'string' ? body.error : undefined;
      const errorDescription = typeof body.error_description === 'string' ? body.error_description : undefined;
      throw new TokenRequestFailed(`the token endpoint answered ${reply.status}${error ? ` ${error}` : ''}${errorDescription ? `: ${errorDescription}` : ''}`, {
        status: reply.status,
        ...(error && { error }),
        ...(errorDescription && { errorDescription }),
        ...(RETRYABLE.has(reply.status) && { retryAfterSeconds: retryAfterSeconds(reply.header('retry-after'), now()) ?? 0 }),
      });
    }
    const tokenType = String(body.token_type ?? '').toLowerCase();
    if (typeof body.access_token !== 'string' || !body.access_token || (tokenType !== 'bearer' && tokenType !== 'dpop')) {
      throw new TokenRequestFailed('the token endpoint answered 200 without a usable access_token and token_type', { status: 200 });
    }
    if (tokenType === 'dpop' && !dpop) throw new TokenRequestFailed('the token endpoint issued a DPoP token, but no DPoP key is configured', { status: 200 });
    const lifetime = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 300;
    return {
      accessToken: body.access_token,
      tokenType: tokenType === 'dpop' ? 'DPoP' : 'Bearer',
      expiresAt: new Date(now() + lifetime * 1000),
      scope: typeof body.scope === 'string' ? body.scope : undefined,
      issuedTokenType: typeof body.issued_token_type === 'string' ? body.issued_token_type : undefined,
    };
  }

  /** One POST /token with fresh credentials (and a fresh proof), retried once for a DPoP nonce. */
  async function post(fields: Record<string, string | string[]>): Promise<AccessToken> {
    const { tokenUrl, audience } = await endpoint();
    for (let nonceRetry = 0; ; nonceRetry++) {
      const auth = await credentials(audience, Math.floor(now() / 1000));
      const body = new URLSearchParams(auth.fields);
      for (const [name, value] of Object.entries(fields)) for (const v of typeof value === 'string' ? [value] : value) body.append(name, v);
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...auth.headers };
      if (dpop) headers.dpop = await dpop({ method: 'POST', url: tokenUrl, ...(dpopNonce !== undefined && { nonce: dpopNonce }) });
      let reply: HttpReply;
      try {
        reply = await transport(tokenUrl, { method: 'POST', headers, body: body.toString() });
      } catch (error) {
        throw new TokenRequestFailed(`the token endpoint could not be reached: ${(error as Error).message}`, { cause: error, retryAfterSeconds: 0 });
      }
      const nonce = reply.header('dpop-nonce');
      if (dpop && nonce) dpopNonce = nonce;
      try {
        return readReply(reply);
      } catch (error) {
        // RFC 9449 §8: use_dpop_nonce asks for the same request again, with the nonce it just sent.
        if (error instanceof TokenRequestFailed && error.error === 'use_dpop_nonce' && dpop && nonce && nonceRetry === 0) continue;
        throw error;
      }
    }
  }

  return post;
}
