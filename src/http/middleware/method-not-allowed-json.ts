import type { Request, Response } from 'express';

/**
 * RFC 9110 §15.5.6: an existing public resource answers an unsupported method with 405 and Allow,
 * not 404; the body uses the OAuth error shape like the rest of the public endpoints.
 */
export function methodNotAllowedJson(allow: string) {
  return (_req: Request, res: Response): void => {
    res.setHeader('Allow', allow);
    res.setHeader('Cache-Control', 'no-store');
    res.status(405).json({ error: 'invalid_request', error_description: `use ${allow}` });
  };
}
