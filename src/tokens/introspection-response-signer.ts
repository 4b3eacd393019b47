import type { ActiveSigningKey } from '../keys/key-service.ts';
import { epochSeconds, type Clock } from '../shared/clock.ts';
import { randomToken } from '../shared/ids.ts';
import { NoActiveSigningKey } from './access-token-issuer.ts';
import { createJwsSigner, type JwsSigner } from './jws-signer.ts';

/** RFC 9701 §5: the JWS typ that keeps an introspection response from being taken for an access token. */
export const INTROSPECTION_JWT_TYPE = 'token-introspection+jwt';
export const INTROSPECTION_JWT_MEDIA_TYPE = `application/${INTROSPECTION_JWT_TYPE}`;

/**
 * Signs an introspection response as a JWT (RFC 9701 §5) with the active token-signing key, so a
 * resource server can keep it as signed evidence: iss, aud (the resource server that asked), iat,
 * and the RFC 7662 response as the token_introspection claim. No sub or exp at the top level: it is
 * not a token and must not be mistaken for one.
 */
export function createIntrospectionResponseSigner(deps: { keys: { activeSigningKey(): ActiveSigningKey | undefined }; clock: Clock; config: { issuer: string } }) {
  const signers = new WeakMap<ActiveSigningKey, JwsSigner>();
  return function signIntrospectionResponse(audience: string, response: Record<string, unknown>): Promise<string> {
    const key = deps.keys.activeSigningKey();
    if (!key) throw new NoActiveSigningKey('no active signing key is loaded');
    let signer = signers.get(key);
    if (!signer) signers.set(key, (signer = createJwsSigner(key, INTROSPECTION_JWT_TYPE)));
    return signer.sign({ iss: deps.config.issuer, aud: audience, iat: epochSeconds(deps.clock.now()), jti: randomToken(16), token_introspection: response });
  };
}

export type IntrospectionResponseSigner = ReturnType<typeof createIntrospectionResponseSigner>;
