/** Every kind of audit event (contract §5). */
export const AUDIT_EVENT_TYPES = [
  'token.issued',
  'token.exchanged',
  'token.denied',
  'token.introspected',
  'token.revoked',
  'client.created',
  'client.updated',
  'client.secret_rotated',
  'client.deleted',
  'key.created',
  'key.activated',
  'key.retired',
  'key.revoked',
  'key.rewrapped',
  'admin.denied',
  'issuer.created',
  'issuer.updated',
  'issuer.deleted',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export type AuditOutcome = 'success' | 'failure';

/** Who asked and from where: the request-scoped facts every event carries. */
export type RequestContext = { requestId: string; sourceAddress: string | undefined };

/**
 * One audit record. Never holds a secret, assertion, token or private key: only identifiers,
 * and `details` with event-specific facts such as the fields an admin changed.
 */
export type AuditRecord = {
  /** The event id (time-ordered); given when the record is made, else when it is stored. */
  id?: string | undefined;
  type: AuditEventType;
  outcome: AuditOutcome;
  time: Date;
  reason?: string | undefined;
  clientId?: string | undefined;
  authMethod?: string | undefined;
  audience?: string[] | undefined;
  scope?: string | undefined;
  jti?: string | undefined;
  kid?: string | undefined;
  sourceAddress?: string | undefined;
  requestId?: string | undefined;
  details?: Record<string, unknown> | undefined;
};

export type StoredAuditEvent = AuditRecord & { id: string };

export type AuditFilter = {
  clientId?: string | undefined;
  type?: AuditEventType | undefined;
  outcome?: AuditOutcome | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  /** One audience the event names (of possibly several). */
  audience?: string | undefined;
  authMethod?: string | undefined;
  reason?: string | undefined;
  jti?: string | undefined;
  requestId?: string | undefined;
};
