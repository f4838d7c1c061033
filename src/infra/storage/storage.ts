/**
 * The object storage port: local files under DATA_DIR (default) or an
 * S3-compatible bucket. Keys follow the seed's layout
 * `downloads/{user_id}/{yyyy}/{mm}/{video_id}.{ext}`; they are always built
 * by us and still checked by safeKey(), so nothing escapes the storage root.
 */
import type { Readable } from 'node:stream';
import { AppError } from '../../errors/app-error.js';

export type StorageKind = 'local' | 's3';

export interface StoredObject {
  key: string;
  size: number;
  etag: string;
  contentType: string;
  modified: Date;
}

export interface ByteRange {
  start: number;
  /** inclusive */
  end: number;
}

export interface ObjectStorage {
  readonly kind: StorageKind;
  /** Stores a local file under key (streamed; large files as multipart uploads on S3). */
  putFile(key: string, filePath: string, contentType: string): Promise<StoredObject>;
  stat(key: string): Promise<StoredObject | null>;
  /** Streams the object or a byte range of it. */
  read(key: string, range?: ByteRange): Promise<Readable>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** Accepts only relative keys of plain segments: no '..', no absolute paths, no backslashes or NULs. */
export function safeKey(key: string): string {
  const segments = key.split('/');
  if (key.length > 1024 || segments.some((s) => !SEGMENT.test(s) || s === '..' || s === '.')) {
    throw new AppError('validation_failed', 'Invalid storage key', { key: key.slice(0, 200) });
  }
  return key;
}
