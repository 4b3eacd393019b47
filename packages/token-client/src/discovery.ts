import { TokenRequestFailed } from './errors.js';
import type { Transport } from './http-transport.js';

export type ServerMetadata = { issuer: string; token_endpoint: string; [member: string]: unknown };

/**
 * RFC 8414 §3: the metadata of `issuer` from /.well-known/oauth-authorization-server (inserted
 * before the issuer's path, if it has one); its `issuer` must be exactly ours (§3.3), else a
 * mix-up or a misconfiguration could send our credentials elsewhere.
 */
export async function discover(issuer: string, transport: Transport): Promise<ServerMetadata> {
  const base = new URL(issuer);
  const path = base.pathname === '/' ? '' : base.pathname.replace(/\/$/, '');
  const url = new URL(`/.well-known/oauth-authorization-server${path}`, base);
  let reply;
  try {
    reply = await transport(url, { method: 'GET', headers: { accept: 'application/json' } });
  } catch (error) {
    throw new TokenRequestFailed(`the issuer's metadata could not be fetched: ${(error as Error).message}`, { cause: error });
  }
  if (reply.status !== 200) throw new TokenRequestFailed(`the issuer's metadata answered ${reply.status}`, { status: reply.status });
  let metadata: ServerMetadata;
  try {
    metadata = JSON.parse(reply.text) as ServerMetadata;
  } catch (error) {
    throw new TokenRequestFailed('the issuer\'s metadata is not JSON', { cause: error });
  }
  if (metadata.issuer !== issuer) throw new TokenRequestFailed(`the metadata names the issuer ${JSON.stringify(metadata.issuer)}, not ${JSON.stringify(issuer)}`);
  if (typeof metadata.token_endpoint !== 'string') throw new TokenRequestFailed('the metadata has no token_endpoint');
  return metadata;
}
