import type { JWK } from 'jose';
import type { SigningAlg } from '../config/config-schema.ts';

/**
 * next → active → retired → (removed once every token it signed has expired); any → revoked.
 * Only next, active and retired keys are published in the JWKS (contract §4).
 */
export type KeyState = 'next' | 'active' | 'retired' | 'revoked';

export const PUBLISHED_STATES: ReadonlySet<KeyState> = new Set(['next', 'active', 'retired']);

export type SigningKeyRecord = {
  kid: string;
  alg: SigningAlg;
  state: KeyState;
  /** Public members only, with kid, use and alg. */
  publicJwk: JWK;
  /** The private JWK sealed by key-encryption.ts; never leaves the key service. */
  encryptedPrivateJwk: string;
  createdAt: Date;
  activatedAt: Date | null;
  retiredAt: Date | null;
  /** When a retired key may leave the JWKS: the last token it signed has expired by then. */
  expiresAt: Date | null;
  revokedAt: Date | null;
};

/** What the admin API shows of a key: no key material at all. */
export type SigningKeyInfo = Omit<SigningKeyRecord, 'publicJwk' | 'encryptedPrivateJwk'>;

export function keyInfo({ publicJwk: _p, encryptedPrivateJwk: _e, ...info }: SigningKeyRecord): SigningKeyInfo {
  return info;
}
