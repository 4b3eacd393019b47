import { InvalidRequest } from '../errors.ts';
import { JWT_BEARER_ASSERTION_TYPE, param, type CertificateEvidence, type TokenRequest } from '../token-request.ts';
import type { AuthMechanism } from './client-auth-method.ts';
import { basicCredentials, isBasicAuthorization } from './client-secret-basic.ts';
import { JWT_SPIFFE_ASSERTION_TYPE } from './federated-jwt.ts';

/**
 * The client credentials a request presents, parsed once: rate limiting, the failure lockout,
 * authentication and the audit record all read this value, so the Basic header, the assertion's
 * claims and the certificate evidence are each decoded at most once per request.
 */
export type PresentedCredentials =
  | { mechanism: 'basic' | 'post'; clientId: string; secret: string }
  | { mechanism: 'assertion'; clientId: string; assertion: string }
  /** A credential issued by a trusted issuer (a Kubernetes service-account token, a JWT-SVID): client_id names the client. */
  | { mechanism: 'federated'; clientId: string; assertion: string; assertionType: string }
  | { mechanism: 'certificate'; clientId: string; evidence: CertificateEvidence }
  /** Malformed, ambiguous or missing: `clientId` is whatever the request names, for the audit record. */
  | { mechanism: 'invalid'; error: InvalidRequest; clientId: string | undefined; attempted: AuthMechanism | undefined };

const MAX_CLIENT_ID_LENGTH = 255;
/**
 * PostgreSQL text cannot hold a NUL, so an id with one could be neither looked up nor audited
 * (the refusal would turn into a 503); no registered id holds one, so it is refused up front.
 */
const NUL_CHARACTER = /\u0000/;
/**
 * Compact JWS with the signature possibly empty: an unsecured JWT (alg none, `h.p.`) still names its
 * client, so it is refused as that client's bad assertion (401, RFC 8725 §3.1), not as a request
 * that names no client (400).
 */
const JWS_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

class CredentialsRefused extends Error {
  constructor(readonly error: InvalidRequest, readonly clientId: string | undefined) {
    super(error.message);
  }
}

function refuse(description: string, reason: 'malformed_credentials' | 'multiple_auth_methods' | 'no_client_authentication' | 'client_id_mismatch' | 'malformed_request', clientId?: string): never {
  throw new CredentialsRefused(new InvalidRequest(description, { reason }), clientId);
}

/** An id usable as a lookup and audit key, or undefined. */
function auditable(id: string | undefined): string | undefined {
  return id !== undefined && id !== '' && id.length <= MAX_CLIENT_ID_LENGTH && !NUL_CHARACTER.test(id) ? id : undefined;
}

/** RFC 7523 §3 item 2: sub names the client (iss must equal it; checked on verification). Read unverified. */
function assertionClaims(jwt: string): { sub: string | undefined; iss: string | undefined } {
  if (!JWS_SHAPE.test(jwt)) return { sub: undefined, iss: undefined };
  try {
    const claims = JSON.parse(Buffer.from(jwt.slice(jwt.indexOf('.') + 1, jwt.lastIndexOf('.')), 'base64url').toString('utf8')) as { sub?: unknown; iss?: unknown } | null;
    return { sub: typeof claims?.sub === 'string' ? claims.sub : undefined, iss: typeof claims?.iss === 'string' ? claims.iss : undefined };
  } catch {
    return { sub: undefined, iss: undefined };
  }
}

const ASSERTION_TYPES = [JWT_BEARER_ASSERTION_TYPE, JWT_SPIFFE_ASSERTION_TYPE];

/**
 * RFC 6749 §2.3 / RFC 8705 §2: which mechanism the request uses. The certificate counts only when no
 * other credential is present, so its evidence (a forwarded chain to parse) is read only then.
 */
function mechanismsOf(req: TokenRequest): AuthMechanism[] {
  const found: AuthMechanism[] = [];
  if (isBasicAuthorization(req.authorization)) found.push('basic');
  if (req.params.has('client_secret')) found.push('post');
  if (req.params.has('client_assertion') || req.params.has('client_assertion_type')) found.push('assertion');
  if (found.length === 0) {
    const e = req.certificate();
    if (e.certificate !== undefined || e.rejection !== undefined || e.untrustedForwarded || (e.channel && req.params.has('client_id'))) found.push('certificate');
  }
  return found;
}

function checkClientId(clientId: string): void {
  if (clientId.length > MAX_CLIENT_ID_LENGTH) refuse('client_id is too long', 'malformed_request');
  if (NUL_CHARACTER.test(clientId)) refuse('client_id must not contain NUL', 'malformed_request');
}

function parse(req: TokenRequest, attempted: { mechanism?: AuthMechanism }): PresentedCredentials {
  const bodyClientId = param(req, 'client_id');
  if (req.authorization !== undefined && !isBasicAuthorization(req.authorization)) {
    refuse('the Authorization header must use the Basic scheme at the token endpoint', 'malformed_credentials', bodyClientId);
  }
  const mechanisms = mechanismsOf(req);
  if (mechanisms.length > 1) refuse('use exactly one client authentication method per request', 'multiple_auth_methods', bodyClientId);
  const mechanism = mechanisms[0];
  if (!mechanism) refuse('client authentication is required', 'no_client_authentication', bodyClientId);
  attempted.mechanism = mechanism;

  let claimed: string | undefined;
  let secret: string | undefined;
  let assertion: string | undefined;
  if (mechanism === 'basic') {
    ({ clientId: claimed, secret } = basicCredentials.decode(req.authorization!));
  } else if (mechanism === 'post') {
    secret = param(req, 'client_secret');
  } else if (mechanism === 'assertion') {
    const assertionType = param(req, 'client_assertion_type');
    if (assertionType === undefined || !ASSERTION_TYPES.includes(assertionType)) {
      refuse(`client_assertion_type must be ${ASSERTION_TYPES.join(' or ')}`, 'malformed_credentials', bodyClientId);
    }
    assertion = param(req, 'client_assertion');
    if (assertion === undefined || assertion === '') refuse('client_assertion is required with client_assertion_type', 'malformed_credentials', bodyClientId);
    const { sub, iss } = assertionClaims(assertion);
    // A credential a trusted issuer gave the client (federated_jwt): its sub is the client's external
    // identity and its iss someone else, so client_id names the client. An RFC 7523 assertion has
    // iss = sub = client_id; one that breaks that is still that client's bad assertion.
    const federated = assertionType === JWT_SPIFFE_ASSERTION_TYPE
      || (iss !== undefined && sub !== undefined && iss !== sub && bodyClientId !== undefined && bodyClientId !== sub && bodyClientId !== iss);
    if (federated) {
      if (bodyClientId === undefined || bodyClientId === '') refuse('client_id is required with a federated client assertion', 'no_client_authentication');
      attempted.mechanism = 'federated';
      checkClientId(bodyClientId);
      return { mechanism: 'federated', clientId: bodyClientId, assertion, assertionType };
    }
    claimed = sub;
  }
  if (claimed !== undefined && bodyClientId !== undefined && claimed !== bodyClientId) {
    refuse('client_id does not match the authenticated client', 'client_id_mismatch', claimed);
  }
  const clientId = claimed ?? bodyClientId;
  if (!clientId) refuse('client_id is required', 'no_client_authentication');
  checkClientId(clientId);
  if (mechanism === 'basic' || mechanism === 'post') return { mechanism, clientId, secret: secret! };
  if (mechanism === 'assertion') return { mechanism, clientId, assertion: assertion! };
  return { mechanism: 'certificate', clientId, evidence: req.certificate() };
}

/** Parses the request's client credentials; never throws: a bad presentation is a value too. */
export function readPresentedCredentials(req: TokenRequest): PresentedCredentials {
  const attempted: { mechanism?: AuthMechanism } = {};
  try {
    return parse(req, attempted);
  } catch (error) {
    if (error instanceof CredentialsRefused) {
      return { mechanism: 'invalid', error: error.error, clientId: auditable(error.clientId), attempted: attempted.mechanism };
    }
    if (error instanceof InvalidRequest) {
      return { mechanism: 'invalid', error, clientId: auditable(param(req, 'client_id')), attempted: attempted.mechanism };
    }
    throw error;
  }
}
