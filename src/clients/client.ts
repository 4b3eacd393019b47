import type { JSONWebKeySet } from 'jose';

/** RFC 8705 §2.1.2: the one certificate subject field a tls_client_auth client registers. */
export type TlsClientAuthSubject = {
  subjectDn: string | null;
  sanDns: string | null;
  sanUri: string | null;
  sanIp: string | null;
  sanEmail: string | null;
};

/**
 * Which token exchanges (RFC 8693) a client may perform; a client without one may not exchange.
 * subjectIssuers: whose tokens it may present (this service's ISSUER for tokens of an earlier hop);
 * subjectAudiences: the audiences of its own that a token of this service must carry for it to
 * exchange it (tokens sent to it, not to others); audience and scopes: what it may ask for.
 */
export type TokenExchangePolicy = {
  subjectIssuers: string[];
  subjectAudiences: string[];
  audience: string[];
  scopes: string[];
};

/**
 * federated_jwt: the credential a trusted issuer gives the client (a Kubernetes service-account
 * token, a SPIFFE JWT-SVID), named by that issuer and the exact subject it carries.
 */
export type FederatedCredential = {
  /** A registered trusted issuer (spiffe://<trust domain> for JWT-SVIDs). */
  issuer: string;
  subject: string;
  /** Kubernetes: accept only pod-bound tokens (the kubernetes.io.pod claims). */
  requireBoundToken: boolean;
};

/** A registered service client, as the domain sees it (never its secrets). */
export type Client = {
  clientId: string;
  clientName: string;
  tokenEndpointAuthMethod: string;
  grantTypes: string[];
  scopes: string[];
  audience: string[];
  accessTokenTtl: number | null;
  /**
   * Issuance quotas of this client, tokens per hour and per day: null follows the deployment's
   * TOKEN_QUOTA_PER_HOUR / TOKEN_QUOTA_PER_DAY, 0 means none.
   */
  tokenQuotaPerHour: number | null;
  tokenQuotaPerDay: number | null;
  subject: string;
  jwks: JSONWebKeySet | null;
  jwksUri: string | null;
  /** RFC 7591 token_endpoint_auth_signing_alg: the one algorithm its assertions may use. */
  tokenEndpointAuthSigningAlg: string | null;
  tlsClientAuth: TlsClientAuthSubject;
  tokenExchange: TokenExchangePolicy | null;
  /** RFC 7662: may call POST /introspect (a resource server checking tokens); false by default. */
  introspection: boolean;
  federatedCredential: FederatedCredential | null;
  disabled: boolean;
  createdAt: Date;
  updatedAt: Date;
};

/** A stored keyed hash of a secret; `expiresAt` is set on a secret kept for a rotation grace period. */
export type StoredSecret = { id: string; hash: string; expiresAt: Date | null };

export type NewClient = Omit<Client, 'createdAt' | 'updatedAt'>;

export type ClientChanges = Partial<Omit<NewClient, 'clientId'>>;

/**
 * NFKC + lower case: two ids that a person would read as the same ("Orders", "orders") map to one
 * key, which the database keeps unique (RFC 9700 §4.15: identifiers must not collide).
 */
export function identityKey(clientId: string): string {
  return clientId.normalize('NFKC').toLowerCase();
}
