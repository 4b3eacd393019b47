import { createLocalJWKSet, type JSONWebKeySet } from 'jose';

export type LocalKeySet = ReturnType<typeof createLocalJWKSet>;

/**
 * One jose key set per registered (or fetched) JWK Set object: jose imports each key once and keeps
 * it in the set, so building a set per request would import the key again on every JWT. The client
 * directory, the trusted-issuer registry and the jwks_uri cache hand out the same object until the
 * keys change; a set no longer referenced is collected with its object.
 */
const localKeySets = new WeakMap<JSONWebKeySet, LocalKeySet>();

export function localKeySet(jwks: JSONWebKeySet): LocalKeySet {
  let set = localKeySets.get(jwks);
  if (!set) localKeySets.set(jwks, (set = createLocalJWKSet(jwks)));
  return set;
}
