/** Keyset pagination cursors over (created_at, id), newest first: opaque to clients, checked when read back. */
import { AppError } from '../../errors/app-error.js';

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
