// The floor: a bare Express 5 endpoint that parses the form body, checks nothing, signs the same
// claims as the service with jose and answers JSON. Its own process; PORT, ISSUER and ALG from the
// parent (bench/references/start-references.ts).
import express from 'express';
import { SIGNING_ALGS, type SigningAlg } from '../options.ts';
import { BENCH_CLIENT_ID, generateBenchKey, signAccessToken, ACCESS_TOKEN_TTL, SCOPE } from '../token-claims.ts';

const alg = process.env.ALG as SigningAlg;
if (!SIGNING_ALGS.includes(alg)) throw new Error(`ALG: expected one of ${SIGNING_ALGS.join(', ')}`);
const issuer = process.env.ISSUER!;
const key = await generateBenchKey(alg);
const jwks = { keys: [key.publicJwk] };

const app = express();
app.disable('x-powered-by');
app.get('/.well-known/jwks.json', (_req, res) => {
  res.json(jwks);
});
app.post('/token', express.urlencoded({ extended: false }), async (_req, res) => {
  const accessToken = await signAccessToken(key, issuer, BENCH_CLIENT_ID);
  res.setHeader('Cache-Control', 'no-store');
  res.json({ access_token: accessToken, token_type: 'Bearer', expires_in: ACCESS_TOKEN_TTL, scope: SCOPE });
});
app.listen(Number(process.env.PORT), '127.0.0.1');
