import { z } from 'zod';
import { SCOPE_TOKEN } from '../oauth/scope.ts';
import { isAbsoluteUriWithoutFragment } from '../oauth/target.ts';
import { ValidationFailed, type FieldIssue } from '../shared/errors.ts';

export const CLIENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@~-]{0,127}$/;
const PRINTABLE = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]*$/u;

export type MetadataRules = {
  authMethods: readonly string[];
  grantTypes: readonly string[];
  maxAccessTokenTtl: number;
  issuer: string;
  /** The audience of Txn-Tokens (TXN_TOKEN_TRUST_DOMAIN): an exchange policy may name it though it need not be a URI. */
  txnTrustDomain: string;
  adminAudience: string;
};


/**
 * The RFC 7591 / RFC 8705 fields that key- and certificate-based methods use; their shape depends
 * on the method, so method-metadata.ts checks them after parsing (and after a PATCH merge).
 */
export const KEY_AND_CERTIFICATE_FIELDS = [
  'jwks',
  'jwks_uri',
  'token_endpoint_auth_signing_alg',
  'tls_client_auth_subject_dn',
  'tls_client_auth_san_dns',
  'tls_client_auth_san_uri',
  'tls_client_auth_san_ip',
  'tls_client_auth_san_email',
] as const;

function buildFields(rules: MetadataRules) {
  const audienceEntry = z.string().refine(isAbsoluteUriWithoutFragment, 'must be an absolute URI without a fragment')
    .refine((v) => v !== rules.issuer, 'must not be the issuer itself');
  return {
    client_name: z.string().trim().min(1).max(200).regex(PRINTABLE, 'must not contain control characters'),
    token_endpoint_auth_method: z.enum(rules.authMethods as [string, ...string[]]),
    grant_types: z.array(z.enum(rules.grantTypes as [string, ...string[]])).max(10)
      .refine((v) => new Set(v).size === v.length, 'must not repeat a grant type'),
    scope: z.string().max(2000).refine((v) => v === '' || v.split(' ').every((t) => SCOPE_TOKEN.test(t)),
      'must be space-delimited scope tokens (RFC 6749 §3.3)'),
    audience: z.array(audienceEntry).max(20).refine((v) => new Set(v).size === v.length, 'must not repeat an audience'),
    access_token_ttl: z.number().int().min(1).max(rules.maxAccessTokenTtl, `must not exceed MAX_ACCESS_TOKEN_TTL (${rules.maxAccessTokenTtl})`),
    token_quota_per_hour: tokenQuota(),
    token_quota_per_day: tokenQuota(),
    subject: z.string().min(1).max(255).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
    token_exchange: tokenExchangePolicy(rules).nullable(),
    introspection: z.boolean(),
    federated_credential: federatedCredential().nullable(),
    ...Object.fromEntries(KEY_AND_CERTIFICATE_FIELDS.map((f) => [f, z.unknown()])),
  };
}

const unique = (v: readonly string[]) => new Set(v).size === v.length;

/** Tokens per window; 0 exempts the client from the deployment's quota; null (in a PATCH) goes back to it. */
const tokenQuota = () => z.number().int('must be a whole number of tokens').min(0).max(1_000_000_000).nullable();

/**
 * RFC 8693 exchange policy. Exchanged tokens never reach the admin API: an admin scope or the admin
 * audience cannot be granted through an exchange, only to a client itself.
 */
function tokenExchangePolicy(rules: MetadataRules) {
  const uri = z.string().max(2000).refine(isAbsoluteUriWithoutFragment, 'must be an absolute URI without a fragment');
  // The trust domain defaults to ISSUER: that value names Txn-Tokens here, never an access token for ourselves.
  const target = z.string().max(2000)
    .refine((v) => v === rules.txnTrustDomain || isAbsoluteUriWithoutFragment(v), 'must be an absolute URI without a fragment, or the Txn-Token trust domain')
    .refine((v) => v !== rules.adminAudience && (v !== rules.issuer || v === rules.txnTrustDomain), 'must not be the admin audience or the issuer');
  return z.strictObject({
    subject_issuers: z.array(uri).min(1).max(20).refine(unique, 'must not repeat an issuer'),
    subject_audiences: z.array(uri.refine((v) => v !== rules.adminAudience, 'must not be the admin audience')).max(20).refine(unique, 'must not repeat an audience').default([]),
    audience: z.array(target).min(1).max(20).refine(unique, 'must not repeat an audience'),
    scope: z.string().max(2000).refine((v) => v === '' || v.split(' ').every((t) => SCOPE_TOKEN.test(t)), 'must be space-delimited scope tokens (RFC 6749 §3.3)')
      .refine((v) => !v.split(' ').some((t) => t.startsWith('admin:')), 'must not contain an admin scope'),
  }).refine((p) => !p.subject_issuers.includes(rules.issuer) || p.subject_audiences.length > 0, {
    message: 'subject_audiences is required when subject_issuers names this service: the audiences of tokens sent to this client',
    path: ['subject_audiences'],
  });
}

/** Kubernetes' default service account of a namespace, as a service-account subject or a SPIFFE ID. */
const DEFAULT_SERVICE_ACCOUNT = /^system:serviceaccount:[^:]+:default$|^spiffe:\/\/[^/]+\/ns\/[^/]+\/sa\/default$/;

/**
 * federated_jwt: the trusted issuer and the exact subject of the credential it gives the client.
 * Every pod of a namespace runs as its default service account unless told otherwise, so a client
 * for it would authenticate any workload there: refused unless asked for explicitly.
 */
function federatedCredential() {
  return z.strictObject({
    issuer: z.string().max(2048).refine((v) => /^https?:\/\/[^\s]+$/.test(v) || /^spiffe:\/\/[a-z0-9._-]{1,255}$/.test(v),
      'must be the issuer URL of a registered trusted issuer, or spiffe://<trust domain>'),
    subject: z.string().min(1).max(1024).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
    require_bound_token: z.boolean().default(false),
    allow_default_service_account: z.boolean().default(false),
  }).superRefine((c, ctx) => {
    if (c.issuer.startsWith('spiffe:') && !c.subject.startsWith(`${c.issuer}/`)) {
      ctx.addIssue({ code: 'custom', path: ['subject'], message: `must be a SPIFFE ID of the trust domain ${c.issuer}` });
    }
    if (DEFAULT_SERVICE_ACCOUNT.test(c.subject) && !c.allow_default_service_account) {
      ctx.addIssue({ code: 'custom', path: ['subject'], message: 'is a namespace\'s default service account, which every pod there runs as unless told otherwise; set allow_default_service_account to register it anyway' });
    }
  });
}

/** Registration (POST /admin/clients) and update (PATCH) bodies; unknown fields are refused by name. */
export function createClientMetadataSchemas(rules: MetadataRules) {
  const f = buildFields(rules);
  const registration = z.strictObject({
    ...f,
    client_id: z.string().regex(CLIENT_ID_PATTERN, 'must be 1-128 letters, digits or . _ : @ ~ -, starting with a letter or digit').optional(),
    token_endpoint_auth_method: f.token_endpoint_auth_method.default('client_secret_basic'),
    grant_types: f.grant_types.default(['client_credentials']),
    scope: f.scope.default(''),
    audience: f.audience.default([]),
    access_token_ttl: f.access_token_ttl.optional(),
    token_quota_per_hour: f.token_quota_per_hour.optional(),
    token_quota_per_day: f.token_quota_per_day.optional(),
    subject: f.subject.optional(),
    token_exchange: f.token_exchange.optional(),
    introspection: f.introspection.default(false),
    federated_credential: f.federated_credential.optional(),
    ...Object.fromEntries(KEY_AND_CERTIFICATE_FIELDS.map((k) => [k, z.unknown().optional()])),
  });
  const update = z.strictObject({
    client_name: f.client_name.optional(),
    token_endpoint_auth_method: f.token_endpoint_auth_method.optional(),
    grant_types: f.grant_types.optional(),
    scope: f.scope.optional(),
    audience: f.audience.optional(),
    access_token_ttl: f.access_token_ttl.nullable().optional(),
    token_quota_per_hour: f.token_quota_per_hour.optional(),
    token_quota_per_day: f.token_quota_per_day.optional(),
    subject: f.subject.optional(),
    token_exchange: f.token_exchange.optional(),
    introspection: f.introspection.optional(),
    federated_credential: f.federated_credential.optional(),
    disabled: z.boolean().optional(),
    ...Object.fromEntries(KEY_AND_CERTIFICATE_FIELDS.map((k) => [k, z.unknown().optional()])),
  });
  return { registration, update };
}

export type ClientMetadataSchemas = ReturnType<typeof createClientMetadataSchemas>;

function issuesOf(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') return { name: issue.keys.join(', '), reason: 'is not a field that can be set' };
    const name = issue.path.length ? issue.path.join('.') : 'body';
    return { name, reason: issue.message };
  });
}

/** Parses with `schema`, turning failures into ValidationFailed naming each field. */
export function parseMetadata<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ValidationFailed([{ name: 'body', reason: 'must be a JSON object' }]);
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new ValidationFailed(issuesOf(parsed.error));
  return parsed.data;
}
