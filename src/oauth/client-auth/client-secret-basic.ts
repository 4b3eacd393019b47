import type { StaleSecretHash } from '../../clients/secret-rehash.ts';
import type { SecretHasher } from '../../clients/client-secret.ts';
import type { Clock } from '../../shared/clock.ts';
import { InvalidRequest } from '../errors.ts';
import type { ClientAuthMethod } from './client-auth-method.ts';
import { verifySecret } from './verify-secret.ts';

const BASIC = /^Basic(?: +(.*))?$/i;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function malformed(description: string): InvalidRequest {
  return new InvalidRequest(description, { reason: 'malformed_credentials' });
}

/** RFC 6749 §2.3.1 and Appendix B: id and secret are form-urlencoded before base64. */
function formDecode(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    throw malformed('the Basic credentials are not correctly form-urlencoded');
  }
}

export function parseBasicCredentials(header: string): { clientId: string; secret: string } {
  const encoded = BASIC.exec(header)?.[1]?.trim();
  if (!encoded || !BASE64.test(encoded)) throw malformed('the Authorization header is not valid Basic credentials');
  let decoded: string;
  try {
    decoded = utf8.decode(Buffer.from(encoded, 'base64'));
  } catch {
    throw malformed('the Basic credentials are not valid UTF-8');
  }
  const colon = decoded.indexOf(':');
  if (colon < 0) throw malformed('the Basic credentials lack the ":" between client id and secret');
  const clientId = formDecode(decoded.slice(0, colon));
  const secret = formDecode(decoded.slice(colon + 1));
  if (!clientId || !secret) throw malformed('the Basic credentials need both a client id and a secret');
  return { clientId, secret };
}

/**
 * The one decoder of Basic credentials, as an object so a test can count its calls: the pipeline
 * promises one decode per request (presented-credentials.ts).
 */
export const basicCredentials = { decode: parseBasicCredentials };

export function isBasicAuthorization(header: string | undefined): boolean {
  return header !== undefined && /^Basic(?: |$)/i.test(header);
}

export function createClientSecretBasic(deps: { hasher: SecretHasher; clock: Clock; onStaleHash?: ((stale: StaleSecretHash) => void) | undefined }): ClientAuthMethod {
  return {
    name: 'client_secret_basic',
    mechanism: 'basic',
    async verify(_req, credentials, record) {
      verifySecret(deps.hasher, deps.clock, (credentials as { secret: string }).secret, record, deps.onStaleHash);
      return {};
    },
  };
}
