import type { Client } from '../clients/client.ts';
import { epochSeconds, type Clock } from '../shared/clock.ts';
import { randomToken } from '../shared/ids.ts';
import type { ActiveSigningKey } from '../keys/key-service.ts';
import { createJwsSigner, type JwsSigner } from './jws-signer.ts';

export type IssuedToken = { accessToken: string; jti: string; kid: string; expiresIn: number };

export type TokenGrant = {
  client: Client;
  scopes: string[];
  audience: string[];
  /** RFC 8705 §3 / RFC 9449 confirmation claim, when the client proved a key or certificate. */
  cnf?: Record<string, string> | undefined;
};

export type IssuerDeps = {
  keys: { activeSigningKey(): ActiveSigningKey | undefined };
  clock: Clock;
  config: { issuer: string; accessTokenTtl: number; maxAccessTokenTtl: number };
};

export class NoActiveSigningKey extends Error {}

/** RFC 9068 access tokens: exactly the claims of contract §3, typ at+jwt. */
export function createAccessTokenIssuer({ keys, clock, config }: IssuerDeps) {
  // One signer per active key, made when the key first signs (the key object changes with the key set).
  const signers = new WeakMap<ActiveSigningKey, JwsSigner>();
  const signerFor = (key: ActiveSigningKey) => {
    let signer = signers.get(key);
    if (!signer) signers.set(key, (signer = createJwsSigner(key, 'at+jwt')));
    return signer;
  };
  return {
    ttlFor: (client: Client) => Math.min(client.accessTokenTtl ?? config.accessTokenTtl, config.maxAccessTokenTtl),

    async issue(grant: TokenGrant): Promise<IssuedToken> {
      const key = keys.activeSigningKey();
      if (!key) throw new NoActiveSigningKey('no active signing key is loaded');
      const iat = epochSeconds(clock.now());
      const expiresIn = this.ttlFor(grant.client);
      const jti = randomToken(16);
      const accessToken = await signerFor(key).sign({
        client_id: grant.client.clientId,
        scope: grant.scopes.join(' '),
        ...(grant.cnf && { cnf: grant.cnf }),
        iss: config.issuer,
        sub: grant.client.subject,
        aud: grant.audience.length === 1 ? grant.audience[0]! : grant.audience,
        iat,
        exp: iat + expiresIn,
        jti,
      });
      return { accessToken, jti, kid: key.kid, expiresIn };
    },
  };
}

export type AccessTokenIssuer = ReturnType<typeof createAccessTokenIssuer>;
