import { randomUUID } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** How the client authenticates at the token endpoint: every method identity-backend accepts. */
export type ClientAuth =
  /** RFC 6749 §2.3.1: Authorization: Basic. */
  | { method: 'client_secret_basic'; clientSecret: string }
  /** RFC 6749 §2.3.1: client_id and client_secret in the body. */
  | { method: 'client_secret_post'; clientSecret: string }
  /** RFC 7523 §2.2: a JWT signed with a private key the client holds (its public half registered). */
  | { method: 'private_key_jwt'; privateKey: CryptoKey | KeyObject | JWK; alg: string; kid?: string; assertionLifetimeSeconds?: number }
  /** RFC 8705 §2: the client certificate travels on the connection (give the source an agent or dispatcher). */
  | { method: 'tls_client_auth' }
  | { method: 'self_signed_tls_client_auth' };

const isJwk = (key: CryptoKey | KeyObject | JWK): key is JWK => typeof (key as JWK).kty === 'string';

export type ClientCredentials = { headers: Record<string, string>; fields: Record<string, string> };

/** RFC 6749 Appendix B: form-urlencode id and secret before joining them for Basic. */
const formEncode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');

/**
 * The headers and body fields one token request carries for `auth`. A private_key_jwt assertion is
 * made fresh for every request (new jti, iat now, short exp): the server accepts each jti once.
 */
export function createClientAuthenticator(clientId: string, auth: ClientAuth) {
  let signingKey: Promise<CryptoKey | KeyObject | Uint8Array> | undefined;
  return async function credentials(assertionAudience: string, nowSeconds: number): Promise<ClientCredentials> {
    switch (auth.method) {
      case 'client_secret_basic':
        return { headers: { authorization: `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(auth.clientSecret)}`).toString('base64')}` }, fields: {} };
      case 'client_secret_post':
        return { headers: {}, fields: { client_id: clientId, client_secret: auth.clientSecret } };
      case 'private_key_jwt': {
        const key = auth.privateKey;
        signingKey ??= isJwk(key) ? importJWK(key, auth.alg) : Promise.resolve(key);
        const kid = auth.kid ?? (isJwk(key) ? key.kid : undefined);
        const assertion = await new SignJWT({})
          .setProtectedHeader({ alg: auth.alg, typ: 'client-authentication+jwt', ...(kid !== undefined && { kid }) })
          .setIssuer(clientId)
          .setSubject(clientId)
          // RFC 7523bis: the audience is the authorization server's issuer identifier, as a single string.
          .setAudience(assertionAudience)
          .setIssuedAt(nowSeconds)
          .setExpirationTime(nowSeconds + (auth.assertionLifetimeSeconds ?? 60))
          .setJti(randomUUID())
          .sign(await signingKey);
        return { headers: {}, fields: { client_id: clientId, client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: assertion } };
      }
      case 'tls_client_auth':
      case 'self_signed_tls_client_auth':
        // RFC 8705 §2: client_id in the body; the certificate is on the connection.
        return { headers: {}, fields: { client_id: clientId } };
    }
  };
}
