/** RFC 8693 §3 token type identifiers, and the Txn-Token draft's. */
export const TOKEN_TYPE = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
  txnToken: 'urn:ietf:params:oauth:token-type:txn_token',
} as const;

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 7523 §2.1 JWT authorization grant. */
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** What a subject_token may be here; refresh tokens, SAML and unsigned JSON are not accepted. */
export const SUBJECT_TOKEN_TYPES: readonly string[] = [TOKEN_TYPE.accessToken, TOKEN_TYPE.jwt, TOKEN_TYPE.idToken, TOKEN_TYPE.txnToken];
/** What may be asked for with requested_token_type. */
export const REQUESTED_TOKEN_TYPES: readonly string[] = [TOKEN_TYPE.accessToken, TOKEN_TYPE.txnToken];
/** What an actor_token may be: a JWT this service issued to the calling client. */
export const ACTOR_TOKEN_TYPES: readonly string[] = [TOKEN_TYPE.accessToken, TOKEN_TYPE.jwt];
