import type { Page, PageRequest } from '../shared/page.ts';
import type { Client, ClientChanges, NewClient, StoredSecret } from './client.ts';

/** Storage of clients and their secret hashes. Implementations translate storage errors to DomainErrors. */
export interface ClientRepository {
  /**
   * The client and its secrets in one read (the hot path of POST /token), including secrets whose
   * grace period has ended but which no rotation has pruned yet, so a late caller is audited as such.
   */
  findForAuthentication(clientId: string): Promise<{ client: Client; secrets: StoredSecret[] } | undefined>;
  /** Up to `limit` clients with their secrets, for the client directory's full load. */
  listForAuthentication(limit: number): Promise<Array<{ client: Client; secrets: StoredSecret[] }>>;
  findById(clientId: string): Promise<Client | undefined>;
  /** Throws Conflict when the id, its identity key or the subject is taken. */
  insert(client: NewClient, secret: StoredSecret | undefined): Promise<Client>;
  /** Throws NotFound for an unknown id, Conflict for a subject already taken. */
  update(clientId: string, changes: ClientChanges): Promise<Client>;
  /** False when there was nothing to delete. */
  delete(clientId: string): Promise<boolean>;
  list(page: PageRequest): Promise<Page<Client>>;
  count(): Promise<number>;
  /**
   * Adds `secret` as the current one. Current secrets become valid until `previousExpiresAt`
   * (or are removed when it is undefined); secrets already expired are removed.
   */
  replaceSecret(clientId: string, secret: StoredSecret, previousExpiresAt: Date | undefined, now: Date): Promise<void>;
  /** Destroys every stored secret hash of the client (it no longer uses a secret method); how many there were. */
  removeSecrets(clientId: string): Promise<number>;
  /**
   * Replaces one stored hash with another of the same secret (re-hashing under the current
   * key-encryption key) only if it is still `from`; false when it was changed or removed meanwhile.
   */
  replaceSecretHash(clientId: string, secretId: string, from: string, to: string): Promise<boolean>;
  /** Stored secret hashes (those starting with `prefix`, if given), for the key-encryption key report and the v1 relabelling. */
  listSecretHashes(prefix?: string): Promise<Array<{ id: string; clientId: string; hash: string; expiresAt: Date | null }>>;
}
