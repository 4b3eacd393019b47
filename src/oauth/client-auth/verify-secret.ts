import type { SecretHasher } from '../../clients/client-secret.ts';
import type { Clock } from '../../shared/clock.ts';
import { InvalidClient } from '../errors.ts';
import type { ClientCredentialsRecord } from './client-auth-method.ts';

/** A hash no secret matches, checked for unknown clients so they take as long as known ones. */
const DECOY_HASH = 'hmac-sha256.v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

/**
 * Compares the presented secret with every stored one (current and in-grace), always all of them,
 * each in constant time, so timing tells nothing about which or whether any matched.
 */
export function verifySecret(hasher: SecretHasher, clock: Clock, secret: string, record: ClientCredentialsRecord | undefined): void {
  const stored = record?.secrets.length ? record.secrets : [{ id: '', hash: DECOY_HASH, expiresAt: null }];
  const now = clock.now();
  let valid = false;
  let expired = false;
  for (const s of stored) {
    const match = hasher.matches(secret, s.hash);
    const live = s.expiresAt === null || s.expiresAt > now;
    valid ||= match && live;
    expired ||= match && !live;
  }
  if (!record) throw new InvalidClient('unknown_client');
  if (valid) return;
  if (record.secrets.length === 0) throw new InvalidClient('no_secret');
  throw new InvalidClient(expired ? 'secret_expired' : 'invalid_secret');
}
