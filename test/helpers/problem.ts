import assert from 'node:assert/strict';
import type { Response } from 'supertest';

/**
 * An RFC 9457 problem document with the given status: problem+json, type, title, status and
 * detail, no stack trace or internals; a 400 lists its failing fields. Returns the parsed body.
 */
export function expectProblemDocument(res: Response, status: number): Record<string, unknown> {
  assert.equal(res.status, status, res.text);
  assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json(;|$)/);
  const body = JSON.parse(res.text) as Record<string, unknown>;
  assert.equal(typeof body.type, 'string');
  assert.equal(typeof body.title, 'string');
  assert.equal(body.status, status);
  assert.equal(typeof body.detail, 'string');
  assert.doesNotMatch(res.text, /\bat \S+:\d+|node_modules|prisma/i, 'no stack trace or internals');
  if (status === 400) assert.ok(Array.isArray(body.invalid_params) && body.invalid_params.length > 0, 'a 400 lists the failing fields');
  return body;
}
