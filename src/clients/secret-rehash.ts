import type { Logger } from '../shared/logger.ts';
import type { ClientRepository } from './client-repository.ts';

/** A secret that matched a hash made under a previous key-encryption key, and its hash under the current one. */
export type StaleSecretHash = { clientId: string; secretId: string; staleHash: string; freshHash: string };

/**
 * Moves a secret's hash to the current key-encryption key at its first successful use after a
 * key change, so the previous key can be dropped once every secret in use has been seen (the
 * `keys kek-status` report counts what is left). Runs beside the request, never in its way: the
 * token is answered whether or not the write succeeds, and the write only replaces the exact
 * hash that matched, so a rotation or a concurrent re-hash elsewhere is never overwritten.
 */
export function createSecretRehash(deps: { clients: Pick<ClientRepository, 'replaceSecretHash'>; logger: Logger }): (stale: StaleSecretHash) => void {
  // One write per secret at a time: a client firing many requests at once causes one, not many.
  const inFlight = new Set<string>();
  return (stale) => {
    if (inFlight.has(stale.secretId)) return;
    inFlight.add(stale.secretId);
    deps.clients.replaceSecretHash(stale.clientId, stale.secretId, stale.staleHash, stale.freshHash).then(
      (replaced) => {
        if (replaced) deps.logger.info({ clientId: stale.clientId }, 'client secret re-hashed under the current key-encryption key');
      },
      (error: unknown) => deps.logger.warn({ err: error, clientId: stale.clientId }, 'client secret could not be re-hashed under the current key-encryption key; it is tried again at its next use'),
    ).finally(() => inFlight.delete(stale.secretId));
  };
}
