import { Router } from 'express';
import { methodNotAllowedJson } from '../middleware/method-not-allowed-json.ts';

export type ServerMetadataInput = {
  issuer: string;
  tokenEndpoint: string;
  /** RFC 7662 and RFC 7009: on the token endpoint's client authentication. */
  introspectionEndpoint: string;
  revocationEndpoint: string;
  jwksUri: string;
  grantTypes: readonly string[];
  authMethods: readonly string[];
  signingAlgs: readonly string[];
  assertionAlgs: readonly string[];
  certificateBoundTokens: boolean;
  /** RFC 8693 token types, when token exchange is offered. */
  tokenExchange?: { subjectTokenTypes: readonly string[]; requestedTokenTypes: readonly string[] } | undefined;
};

/**
 * RFC 8414 metadata, derived from the grant and client-auth registries and built once. The same
 * document answers OIDC discovery, which Istio and openid-client read; it states that no
 * authorization endpoint or ID tokens exist.
 */
export function buildServerMetadata(input: ServerMetadataInput): string {
  return JSON.stringify({
    issuer: input.issuer,
    token_endpoint: input.tokenEndpoint,
    jwks_uri: input.jwksUri,
    grant_types_supported: input.grantTypes,
    token_endpoint_auth_methods_supported: input.authMethods,
    introspection_endpoint: input.introspectionEndpoint,
    introspection_endpoint_auth_methods_supported: input.authMethods,
    introspection_endpoint_auth_signing_alg_values_supported: input.assertionAlgs,
    // RFC 9701 §7: the JWT response is signed with a token-signing key, never encrypted.
    introspection_signing_alg_values_supported: input.signingAlgs,
    revocation_endpoint: input.revocationEndpoint,
    revocation_endpoint_auth_methods_supported: input.authMethods,
    revocation_endpoint_auth_signing_alg_values_supported: input.assertionAlgs,
    response_types_supported: [],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: input.signingAlgs,
    access_token_signing_alg_values_supported: input.signingAlgs,
    token_endpoint_auth_signing_alg_values_supported: input.assertionAlgs,
    dpop_signing_alg_values_supported: input.assertionAlgs,
    ...(input.tokenExchange && {
      token_exchange_subject_token_types_supported: input.tokenExchange.subjectTokenTypes,
      token_exchange_requested_token_types_supported: input.tokenExchange.requestedTokenTypes,
    }),
    tls_client_certificate_bound_access_tokens: input.certificateBoundTokens,
  });
}

export function createMetadataRouter(metadata: string): Router {
  const router = Router();
  for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
    router.get(path, (_req, res) => {
      res.setHeader('Cache-Control', 'public, max-age=3600');
      res.setHeader('Access-Control-Allow-Origin', '*');
      res.type('application/json').send(metadata);
    });
    router.all(path, methodNotAllowedJson('GET, HEAD'));
  }
  return router;
}
