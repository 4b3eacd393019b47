import type { X509Certificate } from 'node:crypto';
import type { SecretHasher } from '../../clients/client-secret.ts';
import type { StaleSecretHash } from '../../clients/secret-rehash.ts';
import type { Clock } from '../../shared/clock.ts';
import type { ReplayCache } from '../../tokens/replay-cache.ts';
import { createSelfSignedTlsClientAuth, createTlsClientAuth } from './certificate-methods.ts';
import type { ClientAuthMethod } from './client-auth-method.ts';
import { createClientSecretBasic } from './client-secret-basic.ts';
import { createClientSecretPost } from './client-secret-post.ts';
import { createFederatedJwt, type FederatedJwtDeps } from './federated-jwt.ts';
import { createPrivateKeyJwt } from './private-key-jwt.ts';
import type { RemoteJwksCache } from './remote-jwks.ts';

export type ClientAuthDeps = {
  hasher: SecretHasher;
  /** Told of a secret that matched a hash made under a previous key-encryption key (secret-rehash.ts). */
  onStaleHash?: ((stale: StaleSecretHash) => void) | undefined;
  clock: Clock;
  replay: ReplayCache;
  remoteJwks: RemoteJwksCache;
  trustAnchors: readonly X509Certificate[];
  externalTokens: FederatedJwtDeps['externalTokens'];
  config: { issuer: string; tokenEndpoint: string; maxFederatedAssertionLifetime: number };
};

/**
 * The supported client-authentication methods. token_endpoint_auth_methods_supported in the
 * metadata and the admin API's allowed values both come from this list.
 */
export function createClientAuthMethods(deps: ClientAuthDeps): readonly ClientAuthMethod[] {
  return [
    createClientSecretBasic(deps),
    createClientSecretPost(deps),
    createPrivateKeyJwt(deps),
    createTlsClientAuth(deps),
    createSelfSignedTlsClientAuth(deps),
    createFederatedJwt(deps),
  ];
}

/** Methods whose clients hold a secret issued by this service. */
export const SECRET_AUTH_METHODS: ReadonlySet<string> = new Set(['client_secret_basic', 'client_secret_post']);
