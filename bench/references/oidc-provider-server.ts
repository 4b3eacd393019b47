// node-oidc-provider configured like the service: client_credentials, JWT access tokens (RFC 9068)
// for one resource server via resource indicators (RFC 8707), signed with ALG, one
// client_secret_basic client, the default in-memory adapter, no audit. Its own process; PORT,
// ISSUER, ALG and CLIENT_SECRET from the parent (bench/references/start-references.ts).
import http from 'node:http';
import Provider, { errors, type Configuration, type JWKS } from 'oidc-provider';
import { SIGNING_ALGS, type SigningAlg } from '../options.ts';
import { ACCESS_TOKEN_TTL, AUDIENCE, BENCH_CLIENT_ID, generateBenchKey, SCOPE } from '../token-claims.ts';

const alg = process.env.ALG as SigningAlg;
if (!SIGNING_ALGS.includes(alg)) throw new Error(`ALG: expected one of ${SIGNING_ALGS.join(', ')}`);
const key = await generateBenchKey(alg);

const configuration: Configuration = {
  clients: [{
    client_id: BENCH_CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET!,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: SCOPE,
    // Only an ALG key is in the keystore; the RS256 default would make the client invalid.
    id_token_signed_response_alg: alg,
  }],
  jwks: { keys: [key.privateJwk] } as JWKS,
  scopes: [SCOPE],
  ttl: { ClientCredentials: ACCESS_TOKEN_TTL },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => AUDIENCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resourceIndicator) => {
        if (resourceIndicator !== AUDIENCE) throw new errors.InvalidTarget();
        return { scope: SCOPE, audience: AUDIENCE, accessTokenTTL: ACCESS_TOKEN_TTL, accessTokenFormat: 'jwt', jwt: { sign: { alg } } };
      },
    },
  },
};

const provider = new Provider(process.env.ISSUER!, configuration);
http.createServer(provider.callback()).listen(Number(process.env.PORT), '127.0.0.1');
