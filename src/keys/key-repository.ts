import type { SigningKeyRecord } from './signing-key.ts';

export interface KeyRepository {
  listAll(): Promise<SigningKeyRecord[]>;
  /**
   * Stores a key. Throws Conflict when it is active and another key already is: the database,
   * not timing, guarantees at most one active key.
   */
  insert(key: SigningKeyRecord): Promise<void>;
}
