import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { forwardedThumbprint, type ForwardedCertificateHeader } from './forwarded-certificate.js';

export type ClientCertificateOptions = {
  /** Addresses or CIDR blocks of proxies whose certificate header is believed (an Istio sidecar: 127.0.0.6 or 127.0.0.1). */
  trustedProxies?: readonly string[];
  /** The header such a proxy writes. Default x-forwarded-client-cert. */
  header?: ForwardedCertificateHeader;
  /** XFCC: exactly one element (Envoy SANITIZE_SET, default) or the last of several (APPEND_FORWARD). */
  elements?: 'one' | 'last';
};

/** What the request says about its client certificate, as an RFC 8705 x5t#S256 thumbprint. */
export type PresentedCertificate = { thumbprint: string | undefined; rejection?: string };

function blockListOf(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/');
    const family = isIP(address ?? '');
    if (!family) throw new TypeError(`trustedProxies: "${entry}" is not an IP address or CIDR block`);
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address!, type);
    else list.addSubnet(address!, Number(bits), type);
  }
  return list;
}

/**
 * Reads the caller's certificate the two ways a target service meets it: on its own TLS listener
 * (the handshake proved the caller holds the key; RFC 8705 §3 needs only the thumbprint, not a chain
 * check), or in the header of a proxy that terminated TLS, believed only from a trusted proxy's
 * address. From any other peer the header is ignored.
 */
export function createCertificateReader(options: ClientCertificateOptions = {}) {
  const trusted = blockListOf(options.trustedProxies ?? []);
  const headerName = options.header ?? 'x-forwarded-client-cert';
  const elements = options.elements ?? 'one';
  return function presentedCertificate(req: IncomingMessage): PresentedCertificate {
    const peer = (req.socket.remoteAddress ?? '').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
    const family = isIP(peer);
    const fromProxy = family !== 0 && trusted.check(peer, family === 6 ? 'ipv6' : 'ipv4');
    const forwarded = req.headersDistinct[headerName];
    if (fromProxy && forwarded) {
      if (forwarded.length !== 1) return { thumbprint: undefined, rejection: 'forwarded_cert_too_many_headers' };
      const result = forwardedThumbprint(headerName, forwarded[0]!, elements);
      return 'thumbprint' in result ? { thumbprint: result.thumbprint } : { thumbprint: undefined, rejection: result.rejection };
    }
    const socket = req.socket as Partial<TLSSocket>;
    const peerCertificate = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate(false) : undefined;
    const raw = peerCertificate && 'raw' in peerCertificate ? peerCertificate.raw : undefined;
    return { thumbprint: raw ? createHash('sha256').update(raw).digest('base64url') : undefined };
  };
}

export type CertificateReader = ReturnType<typeof createCertificateReader>;
