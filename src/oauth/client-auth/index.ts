import type { SecretHasher } from '../../clients/client-secret.ts';
import type { Clock } from '../../shared/clock.ts';
import type { ClientAuthMethod } from './client-auth-method.ts';
import { createClientSecretBasic } from './client-secret-basic.ts';
import { createClientSecretPost } from './client-secret-post.ts';

/**
 * The supported client-authentication methods. token_endpoint_auth_methods_supported in the
 * metadata and the admin API's allowed values both come from this list.
 */
export function createClientAuthMethods(deps: { hasher: SecretHasher; clock: Clock }): readonly ClientAuthMethod[] {
  return [createClientSecretBasic(deps), createClientSecretPost(deps)];
}

/** Methods whose clients hold a secret issued by this service. */
export const SECRET_AUTH_METHODS: ReadonlySet<string> = new Set(['client_secret_basic', 'client_secret_post']);
