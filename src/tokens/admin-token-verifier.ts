import type { JWTPayload } from 'jose';
import { ADMIN_SCOPES, type AdminScope } from '../clients/admin-privilege.ts';
import type { Client } from '../clients/client.ts';
import type { KeyService } from '../keys/key-service.ts';
import { Forbidden, Unauthenticated } from '../shared/errors.ts';
import type { Clock } from '../shared/clock.ts';
import { InvalidDpopProofError, type DpopProofChecker } from './dpop.ts';
import { createOwnTokenVerifier, OwnTokenRejected } from './own-token-verifier.ts';

export { ADMIN_SCOPES, type AdminScope };

/**
 * How the verifier finds a token's client: only what it re-checks, by id (a repository or an
 * in-memory directory both fit; either may answer synchronously).
 */
export type AdminClientLookup = {
  findById(clientId: string): Promise<AdminClientFacts | undefined> | AdminClientFacts | undefined;
};
export type AdminClientFacts = Pick<Client, 'disabled' | 'scopes' | 'audience'>;

/** An admin request's credentials, as the HTTP layer read them (no Express here). */
export type AdminTokenPresentation = {
  /** The Authorization scheme: RFC 6750 Bearer, or RFC 9449 §7.1 DPoP. */
  scheme: 'Bearer' | 'DPoP';
  token: string;
  /** The DPoP header's values (RFC 9449 §4.3 check 1: exactly one). */
  dpopProofs: readonly string[];
  /** htm and htu of this request: its method, and its URL as the caller addressed it (ISSUER + path). */
  method: string;
  url: string;
  /** x5t#S256 of the client certificate this request presented (RFC 8705 §3), when it presented one. */
  certificateThumbprint: string | undefined;
};

export type VerifiedAdmin = { clientId: string; scopes: AdminScope[] };

export type AdminTokenVerifierDeps = {
  keys: Pick<KeyService, 'verificationKey'>;
  clients: AdminClientLookup;
  dpop: DpopProofChecker;
  clock: Clock;
  config: { issuer: string; adminAudience: string };
  /** RFC 7009: a revoked admin token is refused like an expired one. */
  isRevoked?: ((claims: JWTPayload) => boolean) | undefined;
};

/** The confirmation members this service puts into tokens; a token bound any other way is refused. */
const KNOWN_CNF_MEMBERS = new Set(['jkt', 'x5t#S256']);

/**
 * The admin API accepts only this service's own access tokens (contract §5): signed by a
 * published key of ours, typ at+jwt, our issuer, audience <ISSUER>/admin (RFC 8725 §3.9: a token
 * for another audience is refused), unexpired; presented with what it is bound to (checkBinding);
 * from a client that still exists, is enabled and still holds the admin audience and the scope
 * (a scope taken from a client takes effect on its tokens at once, not at their expiry).
 */
export function createAdminTokenVerifier(deps: AdminTokenVerifierDeps) {
  const verifyOwnToken = createOwnTokenVerifier(deps);

  async function verifySignedToken(token: string): Promise<JWTPayload> {
    try {
      return await verifyOwnToken(token, { typ: 'at+jwt', audience: deps.config.adminAudience, requiredClaims: ['sub', 'client_id'] });
    } catch (error) {
      if (!(error instanceof OwnTokenRejected)) throw error;
      const message = error.reason === 'malformed_token' ? 'the access token is not a JWT'
        : error.reason === 'unknown_kid' ? 'the access token is not signed by a current key of this service'
        : 'the access token is not valid for the admin API';
      throw new Unauthenticated(message, error.reason);
    }
  }

  /**
   * A bound token is only as good as its binding (RFC 9449 §7.1, §7.2; RFC 8705 §3): a cnf.jkt
   * token needs the DPoP scheme and a proof by that key for this very request and token; a
   * cnf.x5t#S256 token needs the certificate on this request. An unbound token must not claim DPoP.
   */
  async function checkBinding(payload: JWTPayload, p: AdminTokenPresentation): Promise<void> {
    const cnf = payload.cnf;
    if (cnf !== undefined && (cnf === null || typeof cnf !== 'object' || Array.isArray(cnf) || Object.keys(cnf).some((k) => !KNOWN_CNF_MEMBERS.has(k)))) {
      throw new Unauthenticated('the access token is bound in a way this service does not support', 'unsupported_cnf');
    }
    const { jkt, 'x5t#S256': x5t } = (cnf ?? {}) as { jkt?: unknown; 'x5t#S256'?: unknown };
    if (jkt === undefined && p.scheme === 'DPoP') throw new Unauthenticated('the access token is not DPoP-bound: send it as Bearer', 'token_not_dpop_bound');
    if (jkt !== undefined) {
      if (p.scheme !== 'DPoP') throw new Unauthenticated('the access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof', 'dpop_bound_token_as_bearer');
      if (p.dpopProofs.length !== 1) {
        throw new Unauthenticated('exactly one DPoP proof is required', p.dpopProofs.length ? 'dpop_multiple_proofs' : 'dpop_proof_missing', 'invalid_dpop_proof');
      }
      let proofKey: string;
      try {
        proofKey = await deps.dpop(p.dpopProofs[0]!, { htm: p.method, htu: p.url, accessToken: p.token });
      } catch (error) {
        if (!(error instanceof InvalidDpopProofError)) throw error;
        throw new Unauthenticated('the DPoP proof is not valid for this request', error.reason, 'invalid_dpop_proof');
      }
      if (proofKey !== jkt) throw new Unauthenticated('the DPoP proof is not signed by the key the access token is bound to', 'dpop_key_mismatch', 'invalid_dpop_proof');
    }
    if (x5t !== undefined) {
      if (p.certificateThumbprint === undefined) throw new Unauthenticated('the access token is certificate-bound: present its client certificate', 'certificate_required');
      if (p.certificateThumbprint !== x5t) throw new Unauthenticated('the client certificate is not the one the access token is bound to', 'certificate_mismatch');
    }
  }

  return async function verifyAdminToken(presentation: AdminTokenPresentation, required: AdminScope): Promise<VerifiedAdmin> {
    const payload = await verifySignedToken(presentation.token);
    // A token got by exchange acts for someone else; the admin API takes only a client's own tokens.
    if (payload.act !== undefined) throw new Unauthenticated('a delegated (exchanged) token is not accepted by the admin API', 'delegated_token');
    await checkBinding(payload, presentation);
    const clientId = typeof payload.client_id === 'string' ? payload.client_id : '';
    const tokenScopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
    const client = await deps.clients.findById(clientId);
    if (!client || client.disabled) throw new Unauthenticated('the access token belongs to no active client', 'client_inactive');
    if (!client.audience.includes(deps.config.adminAudience)) throw new Unauthenticated('the client no longer holds the admin audience', 'audience_revoked');
    if (!tokenScopes.includes(required)) throw new Forbidden(`the access token lacks the ${required} scope`, 'insufficient_scope', required);
    if (!client.scopes.includes(required)) throw new Forbidden(`the client no longer holds the ${required} scope`, 'scope_revoked', required);
    // What the caller may do from here on: the token's admin scopes that its client still holds.
    return { clientId, scopes: ADMIN_SCOPES.filter((s) => tokenScopes.includes(s) && client.scopes.includes(s)) };
  };
}

export type AdminTokenVerifier = ReturnType<typeof createAdminTokenVerifier>;
