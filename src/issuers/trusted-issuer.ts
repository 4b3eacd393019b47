import type { JSONWebKeySet } from 'jose';

/**
 * JWS algorithms an external issuer's tokens may be signed with: asymmetric only, never `none`
 * or HMAC (RFC 8725 §3.1; an HMAC key would be a secret shared with the issuer). `Ed25519` is the
 * fully-specified name of EdDSA over Ed25519 (RFC 9864).
 */
export const EXTERNAL_TOKEN_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
export type ExternalTokenAlg = (typeof EXTERNAL_TOKEN_ALGS)[number];

/** An issuer whose signed JWTs this service accepts, as the domain sees it. */
export type TrustedIssuer = {
  /** Opaque id the admin API addresses it by. */
  id: string;
  /** The exact `iss` value of its tokens. */
  issuer: string;
  /** Exactly one of jwksUri and jwks is set. */
  jwksUri: string | null;
  jwks: JSONWebKeySet | null;
  /** A token must carry at least one of these in `aud`. */
  audiences: string[];
  algorithms: ExternalTokenAlg[];
  /** The claim that names the subject (default `sub`). */
  subjectClaim: string;
  /** Seconds: the most `exp - iat`, and the age since `iat`, a token may have; null = exp alone bounds it. */
  maxTokenAge: number | null;
  description: string | null;
  disabled: boolean;
  createdAt: Date;
  updatedAt: Date;
};

export type NewTrustedIssuer = Omit<TrustedIssuer, 'createdAt' | 'updatedAt'>;

/** What a PATCH may change: everything but the id and the issuer itself. */
export type TrustedIssuerChanges = Partial<Omit<NewTrustedIssuer, 'id' | 'issuer'>>;
