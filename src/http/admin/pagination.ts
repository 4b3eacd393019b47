import type { Request } from 'express';
import { ValidationFailed } from '../../shared/errors.ts';
import type { PageRequest } from '../../shared/page.ts';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

function single(req: Request, name: string): string | undefined {
  const value = req.query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new ValidationFailed([{ name, reason: 'must be given once, as a plain value' }]);
  return value;
}

/** limit (1..100, default 20) and an opaque cursor of at most 200 characters. */
export function pageRequest(req: Request): PageRequest {
  const limitText = single(req, 'limit');
  if (limitText !== undefined && !/^[1-9][0-9]{0,2}$/.test(limitText)) {
    throw new ValidationFailed([{ name: 'limit', reason: `must be a whole number from 1 to ${MAX_PAGE_SIZE}` }]);
  }
  const limit = limitText === undefined ? DEFAULT_PAGE_SIZE : Number(limitText);
  if (limit > MAX_PAGE_SIZE) throw new ValidationFailed([{ name: 'limit', reason: `must be a whole number from 1 to ${MAX_PAGE_SIZE}` }]);
  const cursor = single(req, 'cursor');
  if (cursor !== undefined && (cursor === '' || cursor.length > 200)) {
    throw new ValidationFailed([{ name: 'cursor', reason: 'not a cursor this service issued' }]);
  }
  return { limit, cursor };
}

export function queryValue(req: Request, name: string): string | undefined {
  return single(req, name);
}
