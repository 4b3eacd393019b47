/** One page of a list and the opaque cursor of the next page (null on the last page). */
export type Page<T> = { items: T[]; nextCursor: string | null };

export type PageRequest = { limit: number; cursor?: string | undefined };
