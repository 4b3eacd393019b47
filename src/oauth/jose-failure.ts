import { errors } from 'jose';

/**
 * jose's verification errors, by class, as audit reasons (STYLE §2.6: map by code, once):
 * `<prefix>_missing_jti`, `<prefix>_wrong_aud`, `<prefix>_expired`, `<prefix>_bad_signature`, …
 */
export function joseFailureReason(error: unknown, prefix: 'assertion' | 'dpop'): string {
  if (error instanceof errors.JWTExpired) return `${prefix}_expired`;
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'missing') return `${prefix}_missing_${error.claim}`;
    if (error.claim === 'nbf' || (error.claim === 'iat' && error.reason === 'check_failed')) return `${prefix}_not_yet_valid`;
    return `${prefix}_wrong_${error.claim}`;
  }
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) return `${prefix}_unknown_key`;
  if (error instanceof errors.JWSSignatureVerificationFailed) return `${prefix}_bad_signature`;
  if (error instanceof errors.JOSEAlgNotAllowed) return `${prefix}_alg_not_allowed`;
  return `${prefix}_malformed`;
}
