import type { StoredAuditEvent } from '../../audit/audit-event.ts';
import type { Client } from '../../clients/client.ts';
import type { SigningKeyInfo } from '../../keys/signing-key.ts';

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

/** A client as the admin API shows it (RFC 7591 names); secrets and their hashes never appear. */
export function clientRepresentation(c: Client) {
  return {
    client_id: c.clientId,
    client_name: c.clientName,
    token_endpoint_auth_method: c.tokenEndpointAuthMethod,
    grant_types: c.grantTypes,
    scope: c.scopes.join(' '),
    audience: c.audience,
    access_token_ttl: c.accessTokenTtl,
    token_quota_per_hour: c.tokenQuotaPerHour,
    token_quota_per_day: c.tokenQuotaPerDay,
    subject: c.subject,
    jwks: c.jwks,
    jwks_uri: c.jwksUri,
    token_endpoint_auth_signing_alg: c.tokenEndpointAuthSigningAlg,
    tls_client_auth_subject_dn: c.tlsClientAuth.subjectDn,
    tls_client_auth_san_dns: c.tlsClientAuth.sanDns,
    tls_client_auth_san_uri: c.tlsClientAuth.sanUri,
    tls_client_auth_san_ip: c.tlsClientAuth.sanIp,
    tls_client_auth_san_email: c.tlsClientAuth.sanEmail,
    token_exchange: c.tokenExchange && {
      subject_issuers: c.tokenExchange.subjectIssuers,
      subject_audiences: c.tokenExchange.subjectAudiences,
      audience: c.tokenExchange.audience,
      scope: c.tokenExchange.scopes.join(' '),
    },
    introspection: c.introspection,
    federated_credential: c.federatedCredential && {
      issuer: c.federatedCredential.issuer,
      subject: c.federatedCredential.subject,
      require_bound_token: c.federatedCredential.requireBoundToken,
    },
    disabled: c.disabled,
    created_at: c.createdAt.toISOString(),
    updated_at: c.updatedAt.toISOString(),
  };
}

export function keyRepresentation(k: SigningKeyInfo) {
  return {
    kid: k.kid,
    alg: k.alg,
    state: k.state,
    created_at: k.createdAt.toISOString(),
    activated_at: iso(k.activatedAt),
    retired_at: iso(k.retiredAt),
    expires_at: iso(k.expiresAt),
    revoked_at: iso(k.revokedAt),
  };
}

export function auditEventRepresentation(e: StoredAuditEvent) {
  return {
    id: e.id,
    time: e.time.toISOString(),
    type: e.type,
    outcome: e.outcome,
    reason: e.reason ?? null,
    client_id: e.clientId ?? null,
    auth_method: e.authMethod ?? null,
    // openapi.yaml AuditEvent: one string, space-delimited when several (like scope).
    audience: e.audience?.join(' ') ?? null,
    scope: e.scope ?? null,
    jti: e.jti ?? null,
    kid: e.kid ?? null,
    source_address: e.sourceAddress ?? null,
    request_id: e.requestId ?? null,
    details: e.details ?? null,
  };
}
