import type { WindowCounterStore } from './window-counter.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Over a quota: which one, and the seconds until its window ends (Retry-After). */
export type QuotaExceeded = { window: 'hour' | 'day'; retryAfterSeconds: number };

/** A client's own quotas: null follows the deployment's, 0 means none (client.ts). */
export type QuotaSubject = { clientId: string; tokenQuotaPerHour: number | null; tokenQuotaPerDay: number | null };

/**
 * Per-client issuance quotas per hour and per day: the client's own (token_quota_per_hour,
 * token_quota_per_day) or else the deployment's (TOKEN_QUOTA_PER_HOUR, TOKEN_QUOTA_PER_DAY); 0 =
 * none. Counted in the same window-counter store as the rate limits: Redis when REDIS_URL is set,
 * so every instance counts together. A refused request is taken back out of both counts, so a
 * client retrying against its hourly quota does not also spend its daily one. A client without
 * quotas costs no counting at all.
 */
export function createIssuanceQuota(opts: { counter: WindowCounterStore; perHour: number; perDay: number }) {
  const { counter } = opts;
  // Undefined, not a promise, when the client has no quota: nothing to wait for on the hot path.
  return function take(client: QuotaSubject): Promise<QuotaExceeded | undefined> | undefined {
    const perHour = client.tokenQuotaPerHour ?? opts.perHour;
    const perDay = client.tokenQuotaPerDay ?? opts.perDay;
    if (perHour === 0 && perDay === 0) return undefined;
    return count(client.clientId, perHour, perDay);
  };

  async function count(clientId: string, perHour: number, perDay: number): Promise<QuotaExceeded | undefined> {
    const hourKey = `quota-hour ${clientId}`;
    const dayKey = `quota-day ${clientId}`;
    const [hour, day] = await Promise.all([
      perHour ? counter.hit(hourKey, HOUR_MS) : undefined,
      perDay ? counter.hit(dayKey, DAY_MS) : undefined,
    ]);
    const over: QuotaExceeded | undefined = day && day.count > perDay ? { window: 'day', retryAfterSeconds: Math.max(1, Math.ceil(day.resetInMs / 1000)) }
      : hour && hour.count > perHour ? { window: 'hour', retryAfterSeconds: Math.max(1, Math.ceil(hour.resetInMs / 1000)) }
        : undefined;
    if (over) await Promise.all([hour && counter.undo(hourKey), day && counter.undo(dayKey)]);
    return over;
  }
}

export type IssuanceQuota = ReturnType<typeof createIssuanceQuota>;
