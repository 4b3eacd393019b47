import type { KeyState, SigningKeyRecord } from './signing-key.ts';

/** Facts a state change records; `wipePrivateKey` erases key material that will never sign again. */
export type KeyTransition = {
  activatedAt?: Date;
  retiredAt?: Date;
  expiresAt?: Date;
  revokedAt?: Date;
  wipePrivateKey?: boolean;
};

export interface KeyRepository {
  listAll(): Promise<SigningKeyRecord[]>;
  /**
   * Stores a key. Throws Conflict when it is active (or next) and another key already is: the
   * database, not timing, guarantees at most one active and one next key.
   */
  insert(key: SigningKeyRecord): Promise<void>;
  /**
   * Moves a key from `from` to `to` only if it is still in `from`; false when it was not, i.e. a
   * concurrent rotation or revocation changed it first. Throws Conflict on a slot collision.
   */
  transition(kid: string, from: KeyState, to: KeyState, changes: KeyTransition): Promise<boolean>;
  /**
   * Replaces a key's sealed private key (re-wrapped under another key-encryption key) only if it
   * is still `from`; false when a rotation wiped it or another re-wrap changed it first.
   */
  replaceSealedPrivateKey(kid: string, from: string, to: string): Promise<boolean>;
}
