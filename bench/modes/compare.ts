import { prepareAssertionBodies, type AssertionBodies } from '../load/assertion-pool.ts';
import type { AuthMethod, BenchOptions, DatabaseKind, SigningAlg } from '../options.ts';
import { measureJoseSigning } from '../references/jose-signing.ts';
import { startExpressFloor, startOidcProvider, type RunningReference } from '../references/start-references.ts';
import { failedRow, rowFromRates, rowFromRounds, type ResultRow } from '../report/result-row.ts';
import { createBenchDatabase, type BenchDatabase } from '../service/bench-database.ts';
import { startBenchService, type BenchService } from '../service/start-service.ts';
import { TOKEN_REQUEST_BODY } from '../token-claims.ts';
import { fixedTarget, measureRounds, type Log, type TargetForRun } from './measure-rounds.ts';

/** In-process jose runs are CPU-bound loops that settle within a second; they need no 8 s. */
const JOSE_MAX_SECONDS = 3;
const JOSE_CONCURRENCY = 32;
/**
 * Assertions prepared per timed run: twice the rate of the previous run (or of client_secret_basic
 * on the same service), at least MIN_EXPECTED_RATE; private_key_jwt can be the faster of the two.
 */
const ASSERTION_HEADROOM = 2;
const MIN_EXPECTED_RATE = 500;
const FALLBACK_RATE = 2000;

export type ComparisonPlan = BenchOptions & { skippedDatabases: Map<DatabaseKind, string> };

type Started<T> = () => Promise<T>;

/**
 * A server start, run when first asked for; or at once when start-ups overlap (smoke mode), with
 * the failure kept for whoever asks, not thrown as an unhandled rejection.
 */
function starter<T>(plan: ComparisonPlan, start: () => Promise<T>): Started<T> {
  if (!plan.overlapStartups) return start;
  const started = start();
  started.catch(() => {});
  return () => started;
}

type ServiceUnderTest = { service: BenchService; db: BenchDatabase };

async function startServiceOn(alg: SigningAlg, database: DatabaseKind, workers: number, plan: ComparisonPlan): Promise<ServiceUnderTest> {
  const db = await createBenchDatabase(database, plan.postgresUrl);
  try {
    return { service: await startBenchService({ alg, database: db, workers, tuning: plan.service }), db };
  } catch (error) {
    await db.drop();
    throw error;
  }
}

/** The references and every service configuration for each algorithm, one after another. */
export async function runComparison(plan: ComparisonPlan, log: Log): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  for (const alg of plan.algs) {
    const floor = starter(plan, () => startExpressFloor(alg));
    const oidcProvider = starter(plan, () => startOidcProvider(alg));
    const services = plan.databases
      .filter((database) => !plan.skippedDatabases.has(database))
      .flatMap((database) => plan.workerCounts.map((workers) => ({ database, workers, start: starter(plan, () => startServiceOn(alg, database, workers, plan)) })));
    rows.push(...await measureJose(alg, plan, log));
    rows.push(await measureReference({ kind: 'floor', label: 'bare Express 5 + jose (floor)', alg, auth: 'client_secret_basic, not checked' }, floor, plan, log));
    rows.push(await measureReference({ kind: 'oidc-provider', label: 'node-oidc-provider (in-memory)', alg, auth: 'client_secret_basic' }, oidcProvider, plan, log));
    for (const { database, workers, start } of services) rows.push(...await measureService(alg, database, workers, start, plan, log));
  }
  return rows;
}

async function measureJose(alg: SigningAlg, plan: ComparisonPlan, log: Log): Promise<ResultRow[]> {
  const seconds = Math.min(plan.seconds, JOSE_MAX_SECONDS);
  const rows: ResultRow[] = [];
  for (const concurrency of [1, JOSE_CONCURRENCY]) {
    const rates: number[] = [];
    for (let round = 0; round < plan.rounds; round++) rates.push(await measureJoseSigning(alg, concurrency, seconds));
    const label = concurrency === 1 ? 'jose SignJWT, sequential (in-process)' : `jose SignJWT, ${concurrency} concurrent (in-process)`;
    log(`${alg} ${label}: ${rates.map(Math.round).join(', ')} tokens/s`);
    rows.push(rowFromRates({ kind: 'jose', label, alg, auth: 'none (signing only)' }, rates));
  }
  return rows;
}

async function measureReference(base: Omit<ResultRow, 'problems' | 'rounds'>, start: Started<RunningReference>, plan: ComparisonPlan, log: Log): Promise<ResultRow> {
  let reference: RunningReference;
  try {
    reference = await start();
  } catch (error) {
    return failedRow(base, `did not start: ${(error as Error).message}`);
  }
  try {
    return rowFromRounds(base, await measureRounds(`${base.alg} ${base.label}`, plan, fixedTarget(reference.target), log));
  } finally {
    await reference.server.stop();
  }
}

async function measureService(
  alg: SigningAlg, database: DatabaseKind, workers: number, start: Started<ServiceUnderTest>, plan: ComparisonPlan, log: Log,
): Promise<ResultRow[]> {
  const baseOf = (auth: AuthMethod) => ({ kind: 'service' as const, label: 'identity-backend', alg, auth, database, workers });
  let underTest: ServiceUnderTest;
  try {
    underTest = await start();
  } catch (error) {
    return plan.auths.map((auth) => failedRow(baseOf(auth), `did not start: ${(error as Error).message}`));
  }
  const { service, db } = underTest;
  const rows: ResultRow[] = [];
  try {
    let basicRate: number | undefined;
    for (const auth of plan.auths) {
      const label = `${alg} identity-backend ${database} ${workers}w ${auth}`;
      const assertions = assertionTargets(service, plan);
      const targets = auth === 'client_secret_basic' ? fixedTarget(service.basicTarget) : assertions.targetFor;
      const row = rowFromRounds(baseOf(auth), await measureRounds(label, plan, targets, log, basicRate));
      const signedDuringRun = assertions.signedDuringRun();
      if (signedDuringRun > 0) row.notes = [`${signedDuringRun} assertions were signed during the runs (the prepared ones ran out)`];
      if (auth === 'client_secret_basic') basicRate = row.tokensPerSecond;
      rows.push(row);
    }
  } finally {
    await service.server.stop();
    await db.drop();
  }
  return rows;
}

/** private_key_jwt: before each run, enough fresh assertions signed ahead for it (jti is single-use). */
function assertionTargets(service: BenchService, plan: ComparisonPlan): { targetFor: TargetForRun; signedDuringRun(): number } {
  const { key, clientId } = service.jwtClient;
  const prepared: AssertionBodies[] = [];
  const targetFor: TargetForRun = async (length, expectedRate) => {
    const rate = Math.max(expectedRate ?? FALLBACK_RATE, MIN_EXPECTED_RATE);
    const expected = 'amount' in length ? length.amount : Math.ceil(rate * length.seconds * ASSERTION_HEADROOM);
    // Each connection also holds one body made ahead of its next request.
    const bodies = await prepareAssertionBodies({
      clientId, audience: service.issuer, alg: key.alg, kid: key.kid, privateJwk: key.privateJwk, requestBody: TOKEN_REQUEST_BODY,
    }, expected + plan.connections * 4);
    prepared.push(bodies);
    return service.jwtTarget(() => bodies.next());
  };
  return { targetFor, signedDuringRun: () => prepared.reduce((sum, bodies) => sum + bodies.signedDuringRun(), 0) };
}
