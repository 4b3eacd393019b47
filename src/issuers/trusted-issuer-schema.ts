import type { JSONWebKeySet, JWK } from 'jose';
import { z } from 'zod';
import { jwkProblem, jwksUriProblem } from '../clients/method-metadata.ts';
import type { FieldIssue } from '../shared/errors.ts';
import { EXTERNAL_TOKEN_ALGS, type ExternalTokenAlg } from './trusted-issuer.ts';

/** A registered JWK Set: enough keys for a rotation overlap, small enough to keep in memory per issuer. */
export const MAX_ISSUER_KEYS = 20;
export const MAX_ISSUER_JWKS_BYTES = 32_768;
/** The longest a max_token_age may be: a day covers Kubernetes' default hour with room to spare, and more is not short-lived. */
export const MAX_TOKEN_AGE_LIMIT = 86_400;

const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;
const PRINTABLE_TEXT = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]*$/u;
/** Claims that name something other than the subject: naming one of them as the subject would be a mistake. */
const NOT_SUBJECT_CLAIMS = new Set(['iss', 'aud', 'exp', 'nbf', 'iat', 'jti', 'cnf', 'act', 'may_act', 'scope', 'client_id']);

export type IssuerRules = {
  /** This service's own ISSUER: implicitly trusted, so never registered (its tokens are verified against our own keys). */
  ownIssuer: string;
  /** ALLOW_INSECURE_JWKS_URI: http:// issuers and jwks_uri values, private addresses (development only). */
  allowInsecure: boolean;
};

/** SPIFFE ID syntax §2.1: a trust domain is lower-case letters, digits, dots, dashes and underscores. */
export const SPIFFE_TRUST_DOMAIN = /^spiffe:\/\/[a-z0-9._-]{1,255}$/;

/** scheme, host (lower-cased by URL) and path without trailing slashes: how two spellings of one issuer compare. */
function issuerIdentity(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * OpenID Connect Discovery §3 / RFC 8414 §2: an issuer is an https URL with no query or fragment.
 * It is an identifier here, never fetched, so a private host name (an in-cluster API server) is fine.
 */
export function issuerProblem(value: string, rules: IssuerRules): string | undefined {
  if (!PRINTABLE_ASCII.test(value)) return 'must be printable ASCII without spaces';
  // A SPIFFE trust domain (draft-ietf-oauth-spiffe-client-auth): its JWT-SVIDs are looked up by the
  // trust domain of their sub, whatever their iss says (SPIRE sets none unless configured to).
  if (value.startsWith('spiffe:')) return SPIFFE_TRUST_DOMAIN.test(value) ? undefined : 'must be spiffe://<trust domain> (lower-case letters, digits, . - _; no path)';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.protocol !== 'https:' && !(rules.allowInsecure && url.protocol === 'http:')) return 'must use https';
  if (url.username || url.password) return 'must not carry credentials';
  if (value.includes('?') || value.includes('#')) return 'must not have a query or fragment';
  if (issuerIdentity(url) === issuerIdentity(new URL(rules.ownIssuer))) return 'is this service\'s own issuer, which is trusted implicitly';
  return undefined;
}

const unique = (v: readonly unknown[]) => new Set(v).size === v.length;

function buildFields(rules: IssuerRules) {
  return {
    issuer: z.string().max(2048).superRefine((v, ctx) => {
      const problem = issuerProblem(v, rules);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    audiences: z.array(z.string().min(1).max(1024).regex(PRINTABLE_ASCII, 'must be printable ASCII without spaces'))
      .min(1, 'must name at least one audience').max(20).refine(unique, 'must not repeat an audience'),
    algorithms: z.array(z.enum(EXTERNAL_TOKEN_ALGS)).min(1).max(EXTERNAL_TOKEN_ALGS.length).refine(unique, 'must not repeat an algorithm'),
    // RFC 6749 §5.2's error_description characters (no `"` or `\`): the claim is named in refusals.
    subject_claim: z.string().min(1).max(255).regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be printable ASCII without spaces, quotes or backslashes')
      .refine((v) => !NOT_SUBJECT_CLAIMS.has(v), 'must be a claim that names the subject (not iss, aud, exp, nbf, iat, jti, cnf, act, may_act, scope, client_id)'),
    max_token_age: z.number().int().min(1).max(MAX_TOKEN_AGE_LIMIT),
    description: z.string().max(500).regex(PRINTABLE_TEXT, 'must not contain control characters'),
    disabled: z.boolean(),
  };
}

/** POST and PATCH bodies of /admin/trusted-issuers; unknown fields are refused by name. */
export function createTrustedIssuerSchemas(rules: IssuerRules) {
  const f = buildFields(rules);
  const registration = z.strictObject({
    issuer: f.issuer,
    jwks_uri: z.unknown().optional(),
    jwks: z.unknown().optional(),
    audiences: f.audiences,
    algorithms: f.algorithms.default(['RS256']),
    subject_claim: f.subject_claim.default('sub'),
    max_token_age: f.max_token_age.nullable().optional(),
    description: f.description.nullable().optional(),
    disabled: f.disabled.default(false),
  });
  const update = z.strictObject({
    // The issuer is what exchange policies and audit records name: changing it is registering another issuer.
    issuer: z.unknown().optional().refine((v) => v === undefined, 'cannot be changed: register the new issuer and delete this one'),
    jwks_uri: z.unknown().optional(),
    jwks: z.unknown().optional(),
    audiences: f.audiences.optional(),
    algorithms: f.algorithms.optional(),
    subject_claim: f.subject_claim.optional(),
    max_token_age: f.max_token_age.nullable().optional(),
    description: f.description.nullable().optional(),
    disabled: f.disabled.optional(),
  });
  return { registration, update };
}

export type TrustedIssuerSchemas = ReturnType<typeof createTrustedIssuerSchemas>;

/** The algorithms a public JWK can verify (RFC 7518 §3.1; RFC 8037 §3.1 for Ed25519), narrowed by its own `alg`. */
function algorithmsFor(jwk: JWK): ExternalTokenAlg[] {
  const byType: Record<string, readonly ExternalTokenAlg[]> = {
    RSA: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
    'EC:P-256': ['ES256'],
    'EC:P-384': ['ES384'],
    'EC:P-521': ['ES512'],
    'OKP:Ed25519': ['EdDSA', 'Ed25519'],
  };
  const possible = byType[jwk.kty === 'RSA' ? 'RSA' : `${jwk.kty}:${jwk.crv}`] ?? [];
  return jwk.alg === undefined ? [...possible] : possible.filter((a) => a === jwk.alg);
}

/** A key source of a (merged) registration: exactly one of jwks and jwks_uri, and the algorithms it serves. */
export type KeySource = { jwks?: unknown; jwks_uri?: unknown; algorithms: readonly ExternalTokenAlg[] };

/**
 * Exactly one of jwks_uri and jwks; a jwks_uri safe to fetch (the rules of a client's jwks_uri); a
 * JWK Set of public signature keys, each usable with one of the issuer's algorithms (a key no
 * allowed algorithm can use is a registration mistake, better caught now than at the first token).
 */
export function keySourceIssues(m: KeySource, rules: IssuerRules): FieldIssue[] {
  const present = (['jwks', 'jwks_uri'] as const).filter((k) => m[k] !== undefined && m[k] !== null);
  if (present.length !== 1) return [{ name: 'jwks | jwks_uri', reason: 'exactly one of these is needed' }];
  if (present[0] === 'jwks_uri') {
    const problem = jwksUriProblem(m.jwks_uri, rules.allowInsecure);
    return problem ? [{ name: 'jwks_uri', reason: problem }] : [];
  }
  const jwks = m.jwks as JSONWebKeySet;
  if (typeof jwks !== 'object' || Array.isArray(jwks) || !Array.isArray(jwks.keys) || jwks.keys.length === 0 || jwks.keys.length > MAX_ISSUER_KEYS) {
    return [{ name: 'jwks', reason: `must be a JWK Set with 1 to ${MAX_ISSUER_KEYS} keys` }];
  }
  if (JSON.stringify(jwks).length > MAX_ISSUER_JWKS_BYTES) return [{ name: 'jwks', reason: `must be at most ${MAX_ISSUER_JWKS_BYTES} bytes` }];
  const issues: FieldIssue[] = [];
  const kids = new Set<string>();
  jwks.keys.forEach((key, i) => {
    const problem = jwkProblem(key, i, false);
    if (problem) return void issues.push({ name: 'jwks', reason: problem });
    if (key.use !== undefined && key.use !== 'sig') issues.push({ name: 'jwks', reason: `key ${i} has use ${String(key.use)}, not sig` });
    if (key.key_ops !== undefined && !(Array.isArray(key.key_ops) && key.key_ops.includes('verify'))) issues.push({ name: 'jwks', reason: `key ${i} has key_ops without verify` });
    if (key.kid !== undefined) {
      if (typeof key.kid !== 'string' || key.kid === '' || key.kid.length > 255) issues.push({ name: 'jwks', reason: `key ${i} has a kid that is not a string of 1 to 255 characters` });
      else if (kids.has(key.kid)) issues.push({ name: 'jwks', reason: `key ${i} repeats the kid ${JSON.stringify(key.kid)}` });
      else kids.add(key.kid);
    }
    if (!algorithmsFor(key).some((a) => m.algorithms.includes(a))) {
      issues.push({ name: 'jwks', reason: `key ${i} cannot verify any of the algorithms ${m.algorithms.join(', ')}` });
    }
  });
  return issues;
}
