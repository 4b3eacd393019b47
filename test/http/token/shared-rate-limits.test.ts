import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestService, type TestService } from '../../helpers/start-app.ts';

import { testDatabaseProvider } from '../../helpers/test-database.ts';
import { redisTestEnv, startSecondInstance } from '../../helpers/two-instances.ts';

// RL-04: behind a load balancer, instances sharing REDIS_URL count together. Several instances need
// a shared database server (PostgreSQL) and Redis, as in CI; elsewhere the suite is skipped.
const skip = !process.env.REDIS_URL ? 'REDIS_URL is not set'
  : testDatabaseProvider() !== 'postgresql' ? 'several instances need PostgreSQL (DATABASE_URL)' : false;

describe('rate limits shared across instances through Redis (RL-04)', { skip }, () => {
  let a: TestService;
  let b: TestService;
  const env = {
    ISSUER: 'http://identity.test',
    // Counted under a key prefix of this deployment only: other suites' admin tokens, and earlier
    // runs', cannot spend its administrator's 8.
    ...redisTestEnv(),
    RATE_LIMIT_AUTH_FAILURES: '4',
    RATE_LIMIT_TOKEN_PER_CLIENT: '8',
  };

  before(async () => {
    a = await startTestService(env);
    b = await startSecondInstance(a, env);
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
  });

  const token = (t: TestService, id: string, secret: string) =>
    t.agent.post('/token').auth(id, secret).type('form').send({ grant_type: 'client_credentials' });

  it('RL-04 locks a (client, address) pair at the same total count when failures alternate between two instances', async () => {
    const c = await a.registerClient({ client_id: `rl04-${Date.now()}` });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await token(i % 2 ? b : a, c.clientId, 'wrong-secret')).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 429, 429]);
    const right = await token(a, c.clientId, c.secret);
    assert.equal(right.status, 200, 'the right secret still succeeds: a lockout never shuts the client out');
    const locked = await token(b, c.clientId, 'wrong-again');
    assert.equal(locked.status, 429);
    assert.equal(locked.body.error, 'rate_limited');
    assert.match(String(locked.headers['retry-after']), /^[1-9]\d*$/);
    const [denied] = await a.auditEvents({ type: 'token.denied', clientId: c.clientId });
    assert.equal(denied?.reason, 'auth_failures_locked');
  });

  it('RL-04 counts one client\'s requests together across instances', async () => {
    const c = await b.registerClient({ client_id: `rl04c-${Date.now()}` });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await token(i % 2 ? a : b, c.clientId, c.secret)).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 200, 200, 429, 429]);
  });
});
