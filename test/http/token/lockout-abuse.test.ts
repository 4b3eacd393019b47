import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CLIENT_ASSERTION_TYPE, createSigningKey, signAssertion, type SigningKey } from '../../helpers/assertion.ts';
import { startTestService, type RegisteredClient, type TestService } from '../../helpers/start-app.ts';

/** Documentation addresses (RFC 5737): the real client's egress and an attacker's own. */
const CLIENT_ADDRESS = '203.0.113.20';
const ATTACKER_ADDRESS = '198.51.100.66';

/**
 * Nobody can shut a client out by naming it: failures that name a client spend neither its
 * per-client budget nor, for methods that cannot be guessed, any lockout; a wrong secret sent from
 * the client's own address cannot make the right one fail.
 */
describe('POST /token under an attacker naming a victim client (issue: lockout abuse)', () => {
  let t: TestService;
  let victim: RegisteredClient;
  let pkjKey: SigningKey;

  before(async () => {
    t = await startTestService({
      TRUSTED_PROXIES: '127.0.0.1',
      RATE_LIMIT_AUTH_FAILURES: '5',
      RATE_LIMIT_TOKEN_PER_CLIENT: '40',
      RATE_LIMIT_TOKEN_PER_ADDRESS: '0',
    });
    victim = await t.registerClient({ client_id: 'c-orders' });
    pkjKey = await createSigningKey('ES256');
    await t.registerClient({ client_id: 'c-pkj', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [pkjKey.publicJwk] } });
  });
  after(() => t.stop());

  function basic(clientId: string, secret: string, from: string) {
    return t.agent.post('/token').auth(clientId, secret).set('x-forwarded-for', from).type('form').send({ grant_type: 'client_credentials' });
  }

  it('keeps answering the real client 200 while an attacker floods its id with wrong secrets from its own address and from the client\'s', async () => {
    let stop = false;
    const attackerStatuses = new Map<number, number>();
    // Eight concurrent loops at full speed, half from the attacker's address, half from the client's.
    const attackers = Array.from({ length: 8 }, async (_, i) => {
      const from = i % 2 ? ATTACKER_ADDRESS : CLIENT_ADDRESS;
      for (let n = 0; !stop && n < 150; n++) {
        const res = await basic('c-orders', `guess-${i}-${n}`, from);
        attackerStatuses.set(res.status, (attackerStatuses.get(res.status) ?? 0) + 1);
      }
    });
    const real: number[] = [];
    for (let n = 0; n < 25; n++) real.push((await basic('c-orders', victim.secret, CLIENT_ADDRESS)).status);
    stop = true;
    await Promise.all(attackers);

    assert.deepEqual(real, Array(25).fill(200), 'every request of the real client got a token');
    assert.equal(attackerStatuses.get(200), undefined, 'no guess ever succeeded');
    assert.ok((attackerStatuses.get(429) ?? 0) > 0, `the flood was answered 429 once past the lockout: ${JSON.stringify([...attackerStatuses])}`);
    // The refusals did not spend the per-client budget (40 a minute): only the 25 real issuances did.
    for (let n = 0; n < 15; n++) assert.equal((await basic('c-orders', victim.secret, CLIENT_ADDRESS)).status, 200);
    const over = await basic('c-orders', victim.secret, CLIENT_ADDRESS);
    assert.equal(over.status, 429, 'the 41st authenticated request in the minute is over the per-client limit');
    const [denied] = (await t.auditEvents({ type: 'token.denied', clientId: 'c-orders' })).filter((e) => e.requestId === over.headers['x-request-id']);
    assert.equal(denied?.reason, 'rate_limited');
  });

  it('never locks out a private_key_jwt client: bad assertions cannot be guessed into good ones, so they are not counted', async () => {
    const forged = await createSigningKey('ES256');
    for (let n = 0; n < 20; n++) {
      const bad = await signAssertion({ clientId: 'c-pkj', audience: t.config.issuer, key: pkjKey, signWith: forged.privateKey });
      const res = await t.agent.post('/token').set('x-forwarded-for', CLIENT_ADDRESS).type('form')
        .send({ grant_type: 'client_credentials', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: bad });
      assert.equal(res.status, 401, `attempt ${n + 1}: ${res.text}`);
    }
    const good = await signAssertion({ clientId: 'c-pkj', audience: t.config.issuer, key: pkjKey });
    const res = await t.agent.post('/token').set('x-forwarded-for', CLIENT_ADDRESS).type('form')
      .send({ grant_type: 'client_credentials', client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: good });
    assert.equal(res.status, 200, res.text);
  });

  it('counts unknown ids like known ones, so 429 does not tell an attacker which ids exist', async () => {
    const statuses = async (clientId: string) => {
      const seen: number[] = [];
      for (let n = 0; n < 7; n++) seen.push((await basic(clientId, `guess-${n}`, '198.51.100.77')).status);
      return seen;
    };
    assert.deepEqual(await statuses('c-no-such-client'), await statuses('c-orders'));
  });
});
