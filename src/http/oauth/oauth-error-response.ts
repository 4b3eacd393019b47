import type { Response } from 'express';
import type { OAuthError } from '../../oauth/errors.ts';

/** RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E. */
function safeDescription(text: string): string {
  return text.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '?').slice(0, 300);
}

export function setNoStore(res: Response): void {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
}

/** The only writer of OAuth error responses. */
export function sendOAuthError(res: Response, error: OAuthError, opts: { basicAttempted: boolean; realm: string }): void {
  setNoStore(res);
  if (error.status === 401 && opts.basicAttempted) res.setHeader('WWW-Authenticate', `Basic realm="${opts.realm}", charset="UTF-8"`);
  if (error.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(error.retryAfterSeconds));
  if (error.status === 405) res.setHeader('Allow', 'POST');
  res.status(error.status).json({ error: error.code, error_description: safeDescription(error.description) });
}
