import { Conflict, DomainError, NotFound, StorageUnavailable } from '../shared/errors.ts';

/**
 * Translates what Prisma and the drivers throw into DomainErrors, once (Hydra's sqlcon.HandleError):
 * a unique violation is a Conflict, a missing row NotFound, and anything else means the store
 * cannot be trusted right now, so callers fail closed.
 */
export function toDomainError(error: unknown): DomainError {
  if (error instanceof DomainError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'P2002') return new Conflict('a record with the same unique value exists', { cause: error });
  if (code === 'P2025') return new NotFound('record not found', { cause: error });
  return new StorageUnavailable('the database did not complete the operation', { cause: error });
}

export async function translateErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw toDomainError(error);
  }
}
