import type { RequestContext } from '../audit/audit-event.ts';
import type { PresentedCertificate } from '../tls/client-certificate.ts';

/** What the connection says about a client certificate. */
export type CertificateEvidence = {
  /** A usable certificate (or proxy-verified identity), not yet checked against any client. */
  certificate?: PresentedCertificate;
  /** Why a forwarded certificate could not even be read (audit reason). */
  rejection?: string;
  /** The request came over a channel that can carry certificates (our TLS listener, a trusted proxy). */
  channel: boolean;
  /** A certificate header arrived from a peer that is not a trusted proxy and was ignored. */
  untrustedForwarded: boolean;
};

/** A token request as the protocol core sees it: no Express, only what the caller sent. */
export type TokenRequest = {
  /** Every body parameter with every value it was given (duplicates kept for rejectDuplicates). */
  params: ReadonlyMap<string, readonly string[]>;
  /** The raw Authorization header, if any. */
  authorization: string | undefined;
  context: RequestContext;
  /**
   * What the connection says about a client certificate. A function, read (once) only when the
   * request could be using a certificate: reading a forwarded chain is work most requests skip.
   */
  certificate(): CertificateEvidence;
  /** RFC 9449 DPoP proof header, if any. */
  dpop: string | undefined;
};

/** The single value of a parameter; call only after rejectDuplicates. */
export function param(req: TokenRequest, name: string): string | undefined {
  return req.params.get(name)?.[0];
}

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
