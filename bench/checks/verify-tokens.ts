import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import type { TokenCheck } from '../load/token-target.ts';

export type VerificationResult = { checked: number; failed: number; firstFailure?: string };

/**
 * Each sampled body must be an RFC 6749 §5.1 Bearer response whose access token verifies against
 * the server's published JWKS with its issuer, our audience, typ at+jwt (RFC 9068 §2.1) and alg.
 */
export async function verifySampledTokens(bodies: string[], check: TokenCheck): Promise<VerificationResult> {
  const response = await fetch(check.jwksUrl);
  if (!response.ok) return { checked: bodies.length, failed: bodies.length, firstFailure: `JWKS: HTTP ${response.status}` };
  const jwks = createLocalJWKSet(await response.json() as JSONWebKeySet);
  let failed = 0;
  let firstFailure: string | undefined;
  for (const body of bodies) {
    try {
      const parsed = JSON.parse(body) as { access_token?: unknown; token_type?: unknown };
      if (typeof parsed.access_token !== 'string') throw new Error('no access_token');
      if (String(parsed.token_type).toLowerCase() !== 'bearer') throw new Error(`token_type ${String(parsed.token_type)}`);
      await jwtVerify(parsed.access_token, jwks, { issuer: check.issuer, audience: check.audience, typ: 'at+jwt', algorithms: [check.alg] });
    } catch (error) {
      failed++;
      firstFailure ??= (error as Error).message.slice(0, 200);
    }
  }
  return { checked: bodies.length, failed, ...(firstFailure !== undefined && { firstFailure }) };
}
