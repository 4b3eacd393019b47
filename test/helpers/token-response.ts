import assert from 'node:assert/strict';
import { decodeJwt, type JWTPayload } from 'jose';
import type { Response } from 'supertest';

/** The success contract of SECURITY-CASES "OK": exactly the four keys, Bearer, no-store; returns the token's claims. */
export function expectBearerTokenResponse(res: Response): JWTPayload {
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(Object.keys(res.body).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
  assert.equal(res.body.token_type, 'Bearer');
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.equal(res.headers.pragma, 'no-cache');
  return decodeJwt(res.body.access_token as string);
}
