import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { expectMatchesOpenApi } from '../../helpers/openapi.ts';
import { startTestService, type TestService } from '../../helpers/start-app.ts';

const OAUTH_METADATA = '/.well-known/oauth-authorization-server';
const OIDC_DISCOVERY = '/.well-known/openid-configuration';

describe('Server metadata (RFC 8414) and OpenID discovery', () => {
  let t: TestService;
  const documents = new Map<string, { text: string; body: Record<string, unknown> }>();

  before(async () => {
    t = await startTestService();
    for (const path of [OAUTH_METADATA, OIDC_DISCOVERY]) {
      const res = await t.agent.get(path);
      assert.equal(res.status, 200, `${path}: ${res.text}`);
      expectMatchesOpenApi(res, 'GET', path);
      assert.match(res.headers['content-type'] as string, /^application\/json(;|$)/);
      documents.set(path, { text: res.text, body: res.body });
    }
  });
  after(() => t.stop());

  for (const path of [OAUTH_METADATA, OIDC_DISCOVERY]) {
    it(`JW-04 ${path} names exactly the configured issuer, its token endpoint and this JWKS`, async () => {
      const { body } = documents.get(path)!;
      // RFC 8414 §3.3: the issuer MUST be identical to the one the client used, compared as a string.
      assert.equal(body.issuer, t.config.issuer);
      assert.equal(body.issuer, t.url);
      assert.doesNotMatch(body.issuer as string, /\/$/);
      assert.equal(body.token_endpoint, `${t.config.issuer}/token`);
      assert.equal(body.jwks_uri, `${t.config.issuer}/.well-known/jwks.json`);

      // jwks_uri resolves to the key set this service publishes.
      const fetched = await fetch(body.jwks_uri as string);
      assert.equal(fetched.status, 200);
      const jwks = await t.agent.get('/.well-known/jwks.json').expect(200);
      assert.equal(await fetched.text(), jwks.text);
      assert.equal(fetched.headers.get('etag'), jwks.headers.etag);
    });

    it(`JW-04 ${path} advertises client_credentials, token exchange and the JWT bearer grant, the six client authentication methods, and no none or HS* algorithm`, () => {
      const { body } = documents.get(path)!;
      assert.deepEqual(body.grant_types_supported, ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange', 'urn:ietf:params:oauth:grant-type:jwt-bearer']);
      assert.deepEqual(body.token_exchange_subject_token_types_supported, [
        'urn:ietf:params:oauth:token-type:access_token', 'urn:ietf:params:oauth:token-type:jwt',
        'urn:ietf:params:oauth:token-type:id_token', 'urn:ietf:params:oauth:token-type:txn_token',
      ]);
      assert.deepEqual(body.token_exchange_requested_token_types_supported, [
        'urn:ietf:params:oauth:token-type:access_token', 'urn:ietf:params:oauth:token-type:txn_token',
      ]);
      assert.deepEqual(body.token_endpoint_auth_methods_supported,
        ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth', 'federated_jwt']);
      assert.deepEqual(body.response_types_supported, []);
      assert.equal('authorization_endpoint' in body, false);

      const algLists = Object.keys(body).filter((k) => k.endsWith('_alg_values_supported'));
      assert.ok(algLists.includes('access_token_signing_alg_values_supported'), `alg lists: ${algLists.join(', ')}`);
      for (const list of algLists) {
        const algs = body[list] as string[];
        assert.ok(Array.isArray(algs) && algs.length > 0, list);
        // RFC 9700 §2.6 / RFC 8725 §3.1: never "none", and no symmetric algorithm keyed by a shared secret.
        for (const alg of algs) assert.doesNotMatch(alg, /^(none|HS\d+)$/i, `${list} lists ${alg}`);
      }
      assert.ok((body.access_token_signing_alg_values_supported as string[]).includes(t.config.signingAlg));
      // Plain HTTP here, so no mTLS: the certificate-bound flag must not be claimed (RFC 8705 §3.3).
      assert.notEqual(body.tls_client_certificate_bound_access_tokens, true);
    });
  }

  it('JW-04 serves byte-identical documents at both discovery paths', () => {
    const oauth = documents.get(OAUTH_METADATA)!;
    const oidc = documents.get(OIDC_DISCOVERY)!;
    assert.equal(oauth.text, oidc.text);
    assert.deepEqual(oauth.body, oidc.body);
  });

  // Key- and certificate-based methods get their tokens in their own test files (private-key-jwt, mtls).
  it('JW-04 the advertised secret methods are enabled: each gets a token', async () => {
    const { body } = documents.get(OAUTH_METADATA)!;
    for (const method of (body.token_endpoint_auth_methods_supported as string[]).filter((m) => m.startsWith('client_secret_'))) {
      const client = await t.registerClient({ token_endpoint_auth_method: method });
      const request = t.agent.post('/token').type('form');
      const res = method === 'client_secret_basic'
        ? await request.auth(client.clientId, client.secret).send({ grant_type: 'client_credentials' })
        : await request.send({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.secret });
      assert.equal(res.status, 200, `${method}: ${res.text}`);
      const [issued] = await t.auditEvents({ type: 'token.issued', clientId: client.clientId });
      assert.equal(issued?.authMethod, method);
    }
  });
});
