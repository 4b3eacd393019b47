import type { Response } from 'express';
import type { DomainError, FieldIssue } from '../../shared/errors.ts';

type ProblemKind = DomainError['kind'] | 'bad_request' | 'method_not_allowed' | 'too_many_requests' | 'not_acceptable_media_type';

const PROBLEMS: Record<ProblemKind, { status: number; title: string }> = {
  validation_failed: { status: 400, title: 'The request is not valid' },
  bad_request: { status: 400, title: 'The request body could not be read' },
  unauthenticated: { status: 401, title: 'Authentication required' },
  forbidden: { status: 403, title: 'Not permitted' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflict' },
  not_acceptable_media_type: { status: 415, title: 'Unsupported media type' },
  too_many_requests: { status: 429, title: 'Too many requests' },
  storage_unavailable: { status: 503, title: 'Temporarily unavailable' },
};

export type Problem = { kind: ProblemKind; detail: string; invalidParams?: FieldIssue[] | undefined };

/** The only writer of RFC 9457 problem documents; `type` is a stable URI per kind of problem. */
export function sendProblem(res: Response, problem: Problem): void {
  const { status, title } = PROBLEMS[problem.kind];
  res.status(status);
  res.setHeader('Cache-Control', 'no-store');
  res.type('application/problem+json').send(JSON.stringify({
    type: `/problems/${problem.kind.replaceAll('_', '-')}`,
    title,
    status,
    detail: problem.detail,
    ...(problem.invalidParams && { invalid_params: problem.invalidParams }),
  }));
}
