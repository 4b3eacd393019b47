import type { SecretHasher } from '../../clients/client-secret.ts';
import type { StaleSecretHash } from '../../clients/secret-rehash.ts';
import type { Clock } from '../../shared/clock.ts';
import { InvalidClient } from '../errors.ts';
import type { ClientCredentialsRecord } from './client-auth-method.ts';

/**
 * Compares the presented secret with every stored one (current and in-grace), always all of them,
 * each in constant time, so timing tells nothing about which or whether any matched. A live match
 * against a hash made under a previous key-encryption key is handed to `onStaleHash` with its
 * replacement, computed here because only here is the secret at hand.
 */
export function verifySecret(
  hasher: SecretHasher, clock: Clock, secret: string, record: ClientCredentialsRecord | undefined, onStaleHash?: (stale: StaleSecretHash) => void,
): void {
  const stored = record?.secrets.length ? record.secrets : [{ id: '', hash: hasher.decoyHash, expiresAt: null }];
  const now = clock.now();
  let valid = false;
  let expired = false;
  let stale: { id: string; hash: string } | undefined;
  for (const s of stored) {
    const match = hasher.matches(secret, s.hash);
    const live = s.expiresAt === null || s.expiresAt > now;
    valid ||= match && live;
    expired ||= match && !live;
    if (match && live && !hasher.isCurrent(s.hash)) stale = s;
  }
  if (!record) throw new InvalidClient('unknown_client');
  if (valid) {
    if (stale && onStaleHash) onStaleHash({ clientId: record.client.clientId, secretId: stale.id, staleHash: stale.hash, freshHash: hasher.hash(secret) });
    return;
  }
  if (record.secrets.length === 0) throw new InvalidClient('no_secret');
  throw new InvalidClient(expired ? 'secret_expired' : 'invalid_secret');
}
