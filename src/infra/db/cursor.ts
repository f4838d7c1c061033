/** Keyset pagination cursors over (created_at, id), newest first: opaque to clients, checked when read back. */
import { AppError } from '../../errors/app-error.js';
import { sql, type RawBuilder } from 'kysely';

export function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [iso, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(iso ?? '');
  if (!id || Number.isNaN(createdAt.getTime()) || !/^[0-9a-f-]{36}$/.test(id)) {
    throw new AppError('validation_failed', 'Invalid cursor');
  }
  return { createdAt, id };
}

/** Rows strictly after the cursor in (created_at desc, id desc) order; the query must sort that way. */
export function afterCursor<Q extends { where(expr: RawBuilder<boolean>): Q }>(q: Q, cursor: string | undefined): Q {
  if (!cursor) return q;
  const c = decodeCursor(cursor);
  return q.where(sql<boolean>`(created_at, id) < (${c.createdAt}, ${c.id}::uuid)`);
}

/** Cuts the one extra row fetched (limit + 1) into a page and the cursor to the next one. */
export function pageOf<R extends { created_at: Date; id: string }>(
  rows: R[],
  limit: number,
): { items: R[]; next_cursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, next_cursor: rows.length > limit && last ? encodeCursor(last.created_at, last.id) : null };
}
