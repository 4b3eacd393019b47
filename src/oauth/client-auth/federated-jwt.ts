import type { Clock } from '../../shared/clock.ts';
import { epochSeconds } from '../../shared/clock.ts';
import { ExternalTokenRejected, type ExternalTokenVerifier } from '../../issuers/external-token-verifier.ts';
import { InvalidClient, type DenialReason } from '../errors.ts';
import type { ClientAuthMethod } from './client-auth-method.ts';

/** draft-ietf-oauth-spiffe-client-auth §4.1: the client assertion type of a JWT-SVID. */
export const JWT_SPIFFE_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-spiffe';

export type FederatedJwtDeps = {
  externalTokens: Pick<ExternalTokenVerifier, 'verify'>;
  clock: Clock;
  /** maxFederatedAssertionLifetime: the longest exp - iat accepted when the issuer registered no max_token_age. */
  config: { issuer: string; tokenEndpoint: string; maxFederatedAssertionLifetime: number };
};

const fail = (reason: string, cause?: unknown) => new InvalidClient(reason as DenialReason, cause);

/** Kubernetes bound service-account token claims (KEP-1205): the pod the token was issued for. */
function podBinding(payload: Record<string, unknown>): { name: string; uid: string } | undefined {
  const k8s = payload['kubernetes.io'] as { pod?: { name?: unknown; uid?: unknown } } | undefined;
  const pod = k8s?.pod;
  return typeof pod?.name === 'string' && typeof pod.uid === 'string' ? { name: pod.name, uid: pod.uid } : undefined;
}

/**
 * federated_jwt: the client proves itself with a credential someone we trust already gave it — its
 * projected Kubernetes service-account token (client_assertion_type jwt-bearer, iss the cluster's
 * issuer) or its SPIFFE JWT-SVID (client_assertion_type jwt-spiffe) — instead of a secret or a key
 * it holds. The assertion must verify against its trusted issuer's keys; name exactly the client's
 * registered external subject; carry one audience, our issuer or token endpoint (RFC 7523bis, the
 * SPIFFE draft); and live no longer than the issuer's max_token_age (MAX_FEDERATED_ASSERTION_LIFETIME
 * when it sets none). Such tokens are reused for their lifetime and may carry no jti, so there is
 * no replay check: the lifetime bound, and optionally the pod binding, are what limit a stolen one.
 */
export function createFederatedJwt(deps: FederatedJwtDeps): ClientAuthMethod {
  const ownAudiences = [deps.config.issuer, deps.config.tokenEndpoint];
  return {
    name: 'federated_jwt',
    mechanism: 'federated',
    async verify(_req, credentials, record) {
      if (credentials.mechanism !== 'federated') throw fail('auth_method_mismatch');
      let verified;
      try {
        // Verified even for an unknown client: the refusal then costs what a real one does.
        verified = await deps.externalTokens.verify({
          token: credentials.assertion, now: deps.clock.now(), audiences: ownAudiences, spiffe: credentials.assertionType === JWT_SPIFFE_ASSERTION_TYPE,
        });
      } catch (error) {
        if (error instanceof ExternalTokenRejected) throw fail(`federated_${error.reason}`, error);
        throw error;
      }
      const registered = record?.client.federatedCredential;
      if (!registered) throw fail(record ? 'auth_method_mismatch' : 'unknown_client');
      const { payload, issuer } = verified;
      if (issuer.issuer !== registered.issuer) throw fail('federated_issuer_mismatch');
      if (verified.subject !== registered.subject) throw fail('federated_subject_mismatch');
      const aud = typeof payload.aud === 'string' ? [payload.aud] : payload.aud ?? [];
      if (aud.length !== 1 || !ownAudiences.includes(aud[0]!)) throw fail('federated_audience_not_ours');
      const maxLifetime = issuer.maxTokenAge ?? deps.config.maxFederatedAssertionLifetime;
      if (typeof payload.iat !== 'number' || payload.exp! - payload.iat > maxLifetime || epochSeconds(deps.clock.now()) - payload.iat > maxLifetime + 60) {
        throw fail('federated_assertion_too_long_lived');
      }
      const pod = podBinding(payload as Record<string, unknown>);
      if (registered.requireBoundToken && !pod) throw fail('federated_token_not_pod_bound');
      return {
        auditDetails: {
          federated_issuer: issuer.issuer,
          federated_subject: verified.subject,
          ...(typeof payload.jti === 'string' && { assertion_jti: payload.jti }),
          ...(pod && { pod: pod.name }),
        },
      };
    },
  };
}
