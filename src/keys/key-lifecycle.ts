import type { SigningKeyRecord } from './signing-key.ts';

/**
 * Pure rules of the key lifecycle (contract §4), kept apart from storage and HTTP so they can be
 * reasoned about and unit-tested on their own.
 */

/** A verifier such as AWS API Gateway accepts at most 100 keys in a JWKS. */
export const MAX_PUBLISHED_KEYS = 100;

/** Margin for verifiers whose clocks run behind ours when a retired key leaves the JWKS. */
export const CLOCK_SKEW_SECONDS = 60;

export type LifecycleConfig = {
  keyRotationInterval: number;
  keyPrepublish: number;
  maxAccessTokenTtl: number;
};

/** Published: next, active, and retired until the last token it signed has expired. */
export function isPublished(key: SigningKeyRecord, now: Date): boolean {
  if (key.state === 'next' || key.state === 'active') return true;
  return key.state === 'retired' && key.expiresAt !== null && key.expiresAt > now;
}

/** When a key retired now may leave the JWKS: after the longest token it can have signed, plus skew. */
export function retirementExpiry(now: Date, config: Pick<LifecycleConfig, 'maxAccessTokenTtl'>): Date {
  return new Date(now.getTime() + (config.maxAccessTokenTtl + CLOCK_SKEW_SECONDS) * 1000);
}

/** The earliest moment the next key may start signing: KEY_PREPUBLISH after it was published. */
export function nextKeySignableAt(next: SigningKeyRecord, config: Pick<LifecycleConfig, 'keyPrepublish'>): Date {
  return new Date(next.createdAt.getTime() + config.keyPrepublish * 1000);
}

/** When the schedule wants the active key replaced. */
export function rotationDueAt(active: SigningKeyRecord, config: Pick<LifecycleConfig, 'keyRotationInterval'>): Date {
  return new Date((active.activatedAt ?? active.createdAt).getTime() + config.keyRotationInterval * 1000);
}

export function findState(keys: readonly SigningKeyRecord[], state: SigningKeyRecord['state']): SigningKeyRecord | undefined {
  return keys.find((k) => k.state === state);
}

/** Whether the scheduler should rotate now: due, and the next key published long enough. */
export function scheduledRotationDue(keys: readonly SigningKeyRecord[], now: Date, config: LifecycleConfig): boolean {
  const active = findState(keys, 'active');
  const next = findState(keys, 'next');
  return !!active && !!next && rotationDueAt(active, config) <= now && nextKeySignableAt(next, config) <= now;
}
