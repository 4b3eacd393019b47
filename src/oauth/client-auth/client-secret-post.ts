import type { StaleSecretHash } from '../../clients/secret-rehash.ts';
import type { SecretHasher } from '../../clients/client-secret.ts';
import type { Clock } from '../../shared/clock.ts';
import type { ClientAuthMethod } from './client-auth-method.ts';
import { verifySecret } from './verify-secret.ts';

/** RFC 6749 §2.3.1: client_id and client_secret in the request body. */
export function createClientSecretPost(deps: { hasher: SecretHasher; clock: Clock; onStaleHash?: ((stale: StaleSecretHash) => void) | undefined }): ClientAuthMethod {
  return {
    name: 'client_secret_post',
    mechanism: 'post',
    async verify(_req, credentials, record) {
      verifySecret(deps.hasher, deps.clock, (credentials as { secret: string }).secret, record, deps.onStaleHash);
      return {};
    },
  };
}
