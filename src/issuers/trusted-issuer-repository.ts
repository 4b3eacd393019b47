import type { Page, PageRequest } from '../shared/page.ts';
import type { NewTrustedIssuer, TrustedIssuer, TrustedIssuerChanges } from './trusted-issuer.ts';

/** Storage of trusted issuers. Implementations translate storage errors to DomainErrors. */
export interface TrustedIssuerRepository {
  findById(id: string): Promise<TrustedIssuer | undefined>;
  findByIssuer(issuer: string): Promise<TrustedIssuer | undefined>;
  /** Every registered issuer, for the in-memory registry. */
  listAll(): Promise<TrustedIssuer[]>;
  /** Throws Conflict when the issuer is already registered. */
  insert(issuer: NewTrustedIssuer): Promise<TrustedIssuer>;
  /** Throws NotFound for an unknown id. */
  update(id: string, changes: TrustedIssuerChanges): Promise<TrustedIssuer>;
  /** False when there was nothing to delete. */
  delete(id: string): Promise<boolean>;
  /** In creation order; optionally only the entry for one exact issuer. */
  list(page: PageRequest, filter?: { issuer?: string | undefined }): Promise<Page<TrustedIssuer>>;
}
