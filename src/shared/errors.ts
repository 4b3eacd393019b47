/**
 * Errors raised by domain and persistence code. Only oauth/ turns them into OAuth errors and only
 * http/admin/problem-response.ts into problem documents, each on purpose.
 */
export abstract class DomainError extends Error {
  abstract readonly kind: 'not_found' | 'conflict' | 'validation_failed' | 'storage_unavailable' | 'unauthenticated' | 'forbidden';
}

export class NotFound extends DomainError {
  readonly kind = 'not_found';
}

export class Conflict extends DomainError {
  readonly kind = 'conflict';
}

/** One field that failed validation, named by its external (snake_case) name. */
export type FieldIssue = { name: string; reason: string };

export class ValidationFailed extends DomainError {
  readonly kind = 'validation_failed';
  constructor(readonly issues: FieldIssue[]) {
    super(issues.map((i) => `${i.name}: ${i.reason}`).join('; '));
  }
}

/** The database (or another store) cannot be reached or written; the caller must fail closed. */
export class StorageUnavailable extends DomainError {
  readonly kind = 'storage_unavailable';
  constructor(message = 'storage unavailable', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** No valid credentials for an administrative call (a missing, expired or foreign token). */
export class Unauthenticated extends DomainError {
  readonly kind = 'unauthenticated';
  /** The RFC 6750 §3.1 / RFC 9449 §7.1 error code of the challenge. */
  constructor(message: string, readonly reason: string, readonly challengeError: 'invalid_token' | 'invalid_dpop_proof' = 'invalid_token') {
    super(message);
  }
}

/** Valid credentials without the permission the call needs. */
export class Forbidden extends DomainError {
  readonly kind = 'forbidden';
  constructor(message: string, readonly reason: string, readonly requiredScope: string) {
    super(message);
  }
}
