import type { Client } from '../clients/client.ts';
import { epochSeconds, type Clock } from '../shared/clock.ts';
import { randomToken } from '../shared/ids.ts';
import type { ActiveSigningKey } from '../keys/key-service.ts';
import type { ActorClaim, IssuedTokenKind } from '../oauth/grants/grant-handler.ts';
import { createJwsSigner, type JwsSigner } from './jws-signer.ts';

export type IssuedToken = { accessToken: string; jti: string; kid: string; expiresIn: number };

export type TokenGrant = {
  client: Client;
  kind?: IssuedTokenKind | undefined;
  /** The token's sub; the client's own subject when omitted. */
  subject?: string | undefined;
  scopes: string[];
  audience: string[];
  act?: ActorClaim | undefined;
  /** Further claims of this kind of token (a Txn-Token's txn, tctx, rctx, req_wl). */
  claims?: Record<string, unknown> | undefined;
  /** Epoch seconds the token must not outlive. */
  notAfter?: number | undefined;
  /** RFC 8705 §3 / RFC 9449 confirmation claim, when the client proved a key or certificate. */
  cnf?: Record<string, string> | undefined;
};

export type IssuerDeps = {
  keys: { activeSigningKey(): ActiveSigningKey | undefined };
  clock: Clock;
  config: { issuer: string; accessTokenTtl: number; maxAccessTokenTtl: number; txnTokenTtl: number };
};

export class NoActiveSigningKey extends Error {}

/** The JWS typ of each kind: RFC 9068 §2.1, and the Txn-Token draft's header (section "JWT Header"). */
const TYP: Record<IssuedTokenKind, string> = { access_token: 'at+jwt', txn_token: 'txntoken+jwt' };

/**
 * Signs what a grant decided. Access tokens carry exactly the claims of contract §3 (plus act for an
 * exchange); Txn-Tokens the draft's claims, which the grant supplies, and never client_id or cnf.
 */
export function createAccessTokenIssuer({ keys, clock, config }: IssuerDeps) {
  // One signer per active key and typ, made when the key first signs (the key object changes with the key set).
  const signers = new WeakMap<ActiveSigningKey, Map<IssuedTokenKind, JwsSigner>>();
  const signerFor = (key: ActiveSigningKey, kind: IssuedTokenKind) => {
    let byKind = signers.get(key);
    if (!byKind) signers.set(key, (byKind = new Map()));
    let signer = byKind.get(kind);
    if (!signer) byKind.set(kind, (signer = createJwsSigner(key, TYP[kind])));
    return signer;
  };
  const ttlFor = (client: Client) => Math.min(client.accessTokenTtl ?? config.accessTokenTtl, config.maxAccessTokenTtl);
  return {
    ttlFor,

    async issue(grant: TokenGrant): Promise<IssuedToken> {
      const key = keys.activeSigningKey();
      if (!key) throw new NoActiveSigningKey('no active signing key is loaded');
      const kind = grant.kind ?? 'access_token';
      const iat = epochSeconds(clock.now());
      const ttl = kind === 'txn_token' ? config.txnTokenTtl : ttlFor(grant.client);
      // Never outlive what the token was exchanged for (RFC 8693 §2.1 leaves it to policy; ours is this).
      const expiresIn = grant.notAfter === undefined ? ttl : Math.max(0, Math.min(ttl, grant.notAfter - iat));
      const jti = randomToken(16);
      const aud = grant.audience.length === 1 ? grant.audience[0]! : grant.audience;
      const sub = grant.subject ?? grant.client.subject;
      const payload = kind === 'txn_token'
        ? { ...grant.claims, iss: config.issuer, iat, aud, exp: iat + expiresIn, sub, scope: grant.scopes.join(' '), jti }
        : {
          client_id: grant.client.clientId,
          scope: grant.scopes.join(' '),
          ...(grant.cnf && { cnf: grant.cnf }),
          ...(grant.act && { act: grant.act }),
          ...grant.claims,
          iss: config.issuer,
          sub,
          aud,
          iat,
          exp: iat + expiresIn,
          jti,
        };
      const accessToken = await signerFor(key, kind).sign(payload);
      return { accessToken, jti, kid: key.kid, expiresIn };
    },
  };
}

export type AccessTokenIssuer = ReturnType<typeof createAccessTokenIssuer>;
