import { errors as joseErrors, jwtVerify, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { actorChain, type Actor } from './actor-chain.js';
import { checkDpopProof, DEFAULT_DPOP_ALGORITHMS } from './dpop-proof.js';
import { AccessTokenRejected, JwksUnavailable, type AuthScheme } from './errors.js';
import { createIntrospector, type IntrospectionOptions, type IntrospectionResponse } from './introspection.js';
import { createRemoteJwks, type JwksSource, type RemoteJwksOptions } from './remote-jwks.js';
import { createMemoryReplayStore, type ReplayStore } from './replay-store.js';

/** Signature algorithms accepted by default: every asymmetric one jose knows, never none or HS*. */
export const DEFAULT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
/** RFC 9068 §2.2: the claims every access token carries. */
const REQUIRED_CLAIMS = ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'];
/** The confirmation methods this verifier can check; a token bound any other way is refused. */
const KNOWN_CNF_MEMBERS = new Set(['jkt', 'x5t#S256']);
const MAX_TOKEN_LENGTH = 16_384;

export type VerifierOptions = {
  /** The issuer's identifier, compared exactly with `iss`. */
  issuer: string;
  /** This service's audience (or several): the token's `aud` must contain one of them. */
  audience: string | readonly string[];
  /** A shared key set (createRemoteJwks); otherwise one is made for `jwksUri`. */
  jwks?: JwksSource;
  /** Default `<issuer>/.well-known/jwks.json`, where identity-backend publishes it. */
  jwksUri?: string;
  jwksOptions?: RemoteJwksOptions;
  /** Default DEFAULT_ALGORITHMS. */
  algorithms?: readonly string[];
  /** Clock skew allowed on exp and nbf. Default 5 s. */
  clockToleranceSeconds?: number;
  /** The deepest `act` chain accepted. Default 10. */
  maxActorDepth?: number;
  dpop?: {
    algorithms?: readonly string[];
    /** Default 60 s either side of now. */
    iatWindowSeconds?: number;
    /** Default one in-memory store per verifier; share one across instances behind a load balancer. */
    replay?: ReplayStore;
  };
  /** RFC 7662 introspection for routes that ask for it. */
  introspection?: IntrospectionOptions;
  now?: () => Date;
};

/** What the route is asking for, and the evidence the request carries. */
export type VerifyRequest = {
  /** Scopes the token must all hold. */
  scopes?: readonly string[];
  /** The Authorization scheme the token came with; a DPoP-bound token needs DPoP. Default Bearer. */
  scheme?: AuthScheme;
  /** The DPoP header's values and the request they came with (htm, htu). */
  dpop?: { proofs: readonly string[]; method: string; url: string };
  /** x5t#S256 of the client certificate the request presented (TLS or a trusted proxy). */
  certificateThumbprint?: string | undefined;
  /** Why the certificate evidence was refused, when it was. */
  certificateRejection?: string | undefined;
  /** Ask the issuer whether the token is still active (needs `introspection` configured). */
  introspect?: boolean;
};

export type TokenBinding = { method: 'dpop'; jkt: string } | { method: 'mtls'; x5tS256: string };

/** A verified RFC 9068 access token, as a route reads it. */
export type VerifiedAccessToken = {
  token: string;
  header: ProtectedHeaderParameters;
  claims: JWTPayload;
  issuer: string;
  subject: string;
  clientId: string;
  audience: string[];
  scopes: string[];
  expiresAt: Date;
  jti: string;
  /** The delegation chain, current actor first (RFC 8693 §4.1); empty when nobody acts for the subject. */
  actors: Actor[];
  binding: TokenBinding | undefined;
  /** The issuer's answer, when the route asked for introspection. */
  introspection: IntrospectionResponse | undefined;
};

const invalidToken = (description: string, reason: string, scheme?: AuthScheme, cause?: unknown) =>
  new AccessTokenRejected('invalid_token', description, { reason, scheme, cause });

/** jose's refusal as a description for the caller and a reason for the operator. */
function rejectionOf(error: unknown, scheme: AuthScheme | undefined): AccessTokenRejected {
  if (error instanceof AccessTokenRejected) return error;
  if (error instanceof joseErrors.JWTExpired) return invalidToken('the access token has expired', 'token_expired', scheme, error);
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    const what = error.claim === 'aud' ? 'is not meant for this service'
      : error.claim === 'iss' ? 'is not from the expected issuer'
      : error.claim === 'typ' ? 'is not an access token (typ at+jwt)'
      : error.claim === 'nbf' ? 'is not valid yet'
      : `has a missing or invalid ${error.claim.replace(/[^a-z_]/gi, '')} claim`;
    return invalidToken(`the access token ${what}`, `claim_${error.claim}_invalid`, scheme, error);
  }
  if (error instanceof joseErrors.JWKSNoMatchingKey) return invalidToken('the access token is signed by an unknown key', 'unknown_kid', scheme, error);
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return invalidToken('the access token signature is invalid', 'bad_signature', scheme, error);
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return invalidToken('the access token is signed with an algorithm not accepted', 'alg_not_allowed', scheme, error);
  if (error instanceof joseErrors.JOSEError) return invalidToken('the access token is malformed', 'malformed_token', scheme, error);
  throw error;
}

/**
 * Verifies identity-backend access tokens for one target service (RFC 9068 §4): the signature by a
 * key of the issuer's JWKS, typ at+jwt, iss exactly, aud containing ours, exp and nbf with a small
 * skew, the claims RFC 9068 requires; then the binding (RFC 8705 §3 certificate, RFC 9449 §7 DPoP),
 * introspection when the route asks for it, and finally the route's scopes (a 403 only once the
 * token itself is good).
 */
export function createVerifier(options: VerifierOptions) {
  const issuer = options.issuer;
  const audience = typeof options.audience === 'string' ? [options.audience] : [...options.audience];
  if (!issuer || audience.length === 0 || audience.some((a) => !a)) throw new TypeError('createVerifier needs an issuer and an audience');
  const now = options.now ?? (() => new Date());
  const jwks = options.jwks ?? createRemoteJwks(options.jwksUri ?? `${issuer.replace(/\/$/, '')}/.well-known/jwks.json`, {
    now: () => now().getTime(),
    ...options.jwksOptions,
  });
  const algorithms = [...(options.algorithms ?? DEFAULT_ALGORITHMS)];
  const clockTolerance = options.clockToleranceSeconds ?? 5;
  const maxActorDepth = options.maxActorDepth ?? 10;
  const dpop = {
    algorithms: options.dpop?.algorithms ?? DEFAULT_DPOP_ALGORITHMS,
    iatWindowSeconds: options.dpop?.iatWindowSeconds ?? 60,
    replay: options.dpop?.replay ?? createMemoryReplayStore({ now: () => now().getTime() }),
    now,
  };
  const introspect = options.introspection && createIntrospector(options.introspection);

  async function checkBinding(token: string, cnf: unknown, request: VerifyRequest): Promise<TokenBinding | undefined> {
    const scheme = request.scheme ?? 'Bearer';
    if (cnf !== undefined && (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf) || Object.keys(cnf).some((k) => !KNOWN_CNF_MEMBERS.has(k)))) {
      throw invalidToken('the access token is bound in a way this service cannot check', 'unsupported_cnf', scheme);
    }
    const { jkt, 'x5t#S256': x5t } = (cnf ?? {}) as { jkt?: unknown; 'x5t#S256'?: unknown };
    let binding: TokenBinding | undefined;
    // RFC 9449 §7.1, §7.2: a DPoP-bound token only with the DPoP scheme and a proof; an unbound one never with DPoP.
    if (jkt === undefined && scheme === 'DPoP') throw invalidToken('the access token is not DPoP-bound: send it as Bearer', 'token_not_dpop_bound', scheme);
    if (jkt !== undefined) {
      if (typeof jkt !== 'string') throw invalidToken('the access token has a malformed cnf.jkt', 'malformed_cnf', scheme);
      if (scheme !== 'DPoP') throw invalidToken('the access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof', 'dpop_bound_token_as_bearer', scheme);
      const proofs = request.dpop?.proofs ?? [];
      if (proofs.length !== 1 || !request.dpop) {
        throw new AccessTokenRejected('invalid_dpop_proof', 'exactly one DPoP proof is required', { reason: proofs.length ? 'dpop_multiple_proofs' : 'dpop_proof_missing', scheme });
      }
      await checkDpopProof({ proof: proofs[0]!, method: request.dpop.method, url: request.dpop.url, accessToken: token, jkt }, dpop);
      binding = { method: 'dpop', jkt };
    }
    if (x5t !== undefined) {
      if (typeof x5t !== 'string') throw invalidToken('the access token has a malformed cnf.x5t#S256', 'malformed_cnf', scheme);
      if (request.certificateRejection) throw invalidToken('the forwarded client certificate cannot be believed', request.certificateRejection, scheme);
      if (request.certificateThumbprint === undefined) throw invalidToken('the access token is certificate-bound: present its client certificate', 'certificate_required', scheme);
      if (request.certificateThumbprint !== x5t) throw invalidToken('the client certificate is not the one the access token is bound to', 'certificate_mismatch', scheme);
      binding ??= { method: 'mtls', x5tS256: x5t };
    }
    return binding;
  }

  async function verify(token: string, request: VerifyRequest = {}): Promise<VerifiedAccessToken> {
    const scheme = request.scheme;
    if (token.length > MAX_TOKEN_LENGTH || token.split('.').length !== 3) throw invalidToken('the access token is malformed', 'malformed_token', scheme);
    let payload: JWTPayload;
    let header: ProtectedHeaderParameters;
    try {
      ({ payload, protectedHeader: header } = await jwtVerify(token, jwks, {
        issuer,
        audience,
        typ: 'at+jwt',
        algorithms,
        clockTolerance,
        currentDate: now(),
        requiredClaims: REQUIRED_CLAIMS,
      }));
    } catch (error) {
      if (error instanceof JwksUnavailable) throw error;
      throw rejectionOf(error, scheme);
    }
    if (typeof payload.sub !== 'string' || typeof payload.client_id !== 'string' || typeof payload.jti !== 'string') {
      throw invalidToken('the access token has a malformed sub, client_id or jti', 'malformed_claims', scheme);
    }
    if (payload.scope !== undefined && typeof payload.scope !== 'string') throw invalidToken('the access token has a malformed scope', 'malformed_scope', scheme);
    let actors: Actor[];
    try {
      actors = actorChain(payload.act, maxActorDepth);
    } catch (error) {
      throw invalidToken('the access token has a malformed act chain', 'malformed_act', scheme, error);
    }
    const binding = await checkBinding(token, payload.cnf, request);
    let introspection: IntrospectionResponse | undefined;
    if (request.introspect) {
      if (!introspect) throw new TypeError('introspection was asked for, but the verifier has no introspection options');
      introspection = await introspect(token);
      if (introspection.active !== true) throw invalidToken('the access token is no longer active', 'token_inactive', scheme);
    }
    const scopes = payload.scope ? payload.scope.split(' ').filter(Boolean) : [];
    const missing = (request.scopes ?? []).filter((s) => !scopes.includes(s));
    if (missing.length) {
      throw new AccessTokenRejected('insufficient_scope', `the access token lacks the scope ${missing.join(' ')}`, {
        reason: 'insufficient_scope',
        scheme,
        requiredScopes: request.scopes,
      });
    }
    return {
      token,
      header,
      claims: payload,
      issuer,
      subject: payload.sub,
      clientId: payload.client_id,
      audience: typeof payload.aud === 'string' ? [payload.aud] : [...(payload.aud ?? [])],
      scopes,
      expiresAt: new Date(payload.exp! * 1000),
      jti: payload.jti,
      actors,
      binding,
      introspection,
    };
  }

  return { verify, jwks, dpopAlgorithms: dpop.algorithms };
}

export type Verifier = ReturnType<typeof createVerifier>;

const verifiers = new WeakMap<VerifierOptions, Verifier>();
/** verify()'s key sets, one per JWKS URL, so a fresh options object per call still hits the cache. */
const sharedKeySets = new Map<string, JwksSource>();
const MAX_SHARED_KEY_SETS = 16;

function sharedKeySet(options: VerifierOptions): JwksSource {
  const url = options.jwksUri ?? `${options.issuer.replace(/\/$/, '')}/.well-known/jwks.json`;
  let jwks = sharedKeySets.get(url);
  if (!jwks) {
    if (sharedKeySets.size >= MAX_SHARED_KEY_SETS) sharedKeySets.delete(sharedKeySets.keys().next().value!);
    sharedKeySets.set(url, (jwks = createRemoteJwks(url, options.jwksOptions)));
  }
  return jwks;
}

/**
 * verify(token, options) without keeping a verifier: the verifier is kept per options object, and
 * unless `jwks` is given the key set is shared per JWKS URL, so the keys are not fetched per call.
 */
export function verify(token: string, options: VerifierOptions & VerifyRequest): Promise<VerifiedAccessToken> {
  let verifier = verifiers.get(options);
  if (!verifier) verifiers.set(options, (verifier = createVerifier({ ...options, jwks: options.jwks ?? sharedKeySet(options) })));
  return verifier.verify(token, options);
}
