import type { SecretHasher } from '../../clients/client-secret.ts';
import type { Clock } from '../../shared/clock.ts';
import { param } from '../token-request.ts';
import type { ClientAuthMethod } from './client-auth-method.ts';
import { verifySecret } from './verify-secret.ts';

/** RFC 6749 §2.3.1: client_id and client_secret in the request body. */
export function createClientSecretPost(deps: { hasher: SecretHasher; clock: Clock }): ClientAuthMethod {
  return {
    name: 'client_secret_post',
    mechanism: 'post',
    params: new Set(['client_id', 'client_secret']),
    presentedBy: (req) => req.params.has('client_secret'),
    claimedClientId: (req) => param(req, 'client_id'),
    async verify(req, record) {
      verifySecret(deps.hasher, deps.clock, param(req, 'client_secret')!, record);
      return {};
    },
  };
}
