/**
 * Object storage in an S3-compatible bucket (AWS S3, MinIO, R2, …).
 *
 * - Object keys are `prefix + safeKey(key)`.
 * - putFile() streams the file through @aws-sdk/lib-storage's Upload: files
 *   larger than one part go up as a multipart upload of 8 MiB parts, 4 at a
 *   time, so memory stays around partSize × (queueSize + 1) whatever the file
 *   size. Like the local store it takes ownership of the source file: it is
 *   removed once the object is stored, and left alone on failure.
 * - With a custom endpoint the client only sends and checks checksums where
 *   the S3 API requires them: many S3-compatible servers do not understand the
 *   SDK's default CRC32 trailers (aws-chunked bodies).
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  S3Client,
  type HeadObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import { Readable } from 'node:stream';
import { AppError } from '../../errors/app-error.js';
import { checkRange, DEFAULT_CONTENT_TYPE, notFound, rangeNotSatisfiable } from './local-storage.js';
import { safeKey, type ByteRange, type ObjectStorage, type StoredObject } from './storage.js';

export const S3_PART_SIZE = 8 * 1024 * 1024;
export const S3_QUEUE_SIZE = 4;

export interface S3StorageOptions {
  bucket: string;
  region: string;
  /** unset → AWS S3 for the region */
  endpoint?: string;
  /** unset → the SDK's default credential chain */
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
  /** put before every key, e.g. 'ytbh/' */
  prefix?: string;
}

/** What an upload did; for metrics and tests. */
export interface S3UploadProgress {
  key: string;
  loaded: number;
  total: number | undefined;
  part: number | undefined;
}

export class S3Storage implements ObjectStorage {
  readonly kind = 's3' as const;
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly progressListeners = new Set<(p: S3UploadProgress) => void>();

  constructor(options: S3StorageOptions) {
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? '';
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      credentials:
        options.accessKeyId && options.secretAccessKey
          ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey }
          : undefined,
      ...(options.endpoint
        ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }
        : {}),
    });
  }

  /** Subscribes to upload progress (one event per part and per completed upload); returns the unsubscribe. */
  onUploadProgress(listener: (p: S3UploadProgress) => void): () => void {
    this.progressListeners.add(listener);
    return () => this.progressListeners.delete(listener);
  }

  async putFile(key: string, filePath: string, contentType: string): Promise<StoredObject> {
    const objectKey = this.objectKey(key);
    let size: number;
    try {
      size = (await fs.stat(filePath)).size;
    } catch (err) {
      throw new AppError('internal_error', 'Source file not found', { key }, { cause: err });
    }
    // Default 64 KiB reads: lib-storage copies them into each part buffer, and
    // small garbage chunks keep the peak close to the part window (1 MiB reads
    // measured ~20 MiB higher).
    const body = createReadStream(filePath);
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: objectKey, Body: body, ContentType: contentType, ContentLength: size },
      partSize: S3_PART_SIZE,
      queueSize: S3_QUEUE_SIZE,
      leavePartsOnError: false,
    });
    upload.on('httpUploadProgress', (p) => {
      for (const listener of this.progressListeners) {
        listener({ key, loaded: p.loaded ?? 0, total: p.total, part: p.part });
      }
    });
    try {
      await upload.done();
    } catch (err) {
      throw storageError('upload', key, err);
    } finally {
      body.destroy();
    }
    const stored = await this.stat(key);
    if (!stored) throw new AppError('internal_error', 'Uploaded object not found', { key });
    await fs.rm(filePath, { force: true });
    return stored;
  }

  async stat(key: string): Promise<StoredObject | null> {
    let out: HeadObjectCommandOutput;
    try {
      out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw storageError('stat', key, err);
    }
    return {
      key,
      size: out.ContentLength ?? 0,
      etag: out.ETag ?? '',
      contentType: out.ContentType ?? DEFAULT_CONTENT_TYPE,
      modified: out.LastModified ?? new Date(0),
    };
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    checkRange(range);
    const objectKey = this.objectKey(key);
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: objectKey,
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
      );
      if (!(out.Body instanceof Readable)) {
        throw new AppError('internal_error', 'S3 response body is not a Node stream', { key });
      }
      return range ? exactRange(key, range, out.Body, out.ContentRange, out.ContentLength) : out.Body;
    } catch (err) {
      if (err instanceof AppError) throw err;
      const status = statusOf(err);
      if (status === 404) throw notFound(key);
      if (status === 416 && range) throw rangeNotSatisfiable(key, range);
      throw storageError('read', key, err);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
    } catch (err) {
      if (statusOf(err) === 404) return;
      throw storageError('delete', key, err);
    }
  }

  async close(): Promise<void> {
    this.progressListeners.clear();
    this.client.destroy();
  }

  private objectKey(key: string): string {
    return this.prefix + safeKey(key);
  }
}

/**
 * A server may ignore a Range (200, whole object) or answer a wider one than
 * asked (s3rver turns `bytes=0-0` into the whole object); callers size HTTP
 * responses from the range, so the stream must hold exactly the asked bytes.
 */
function exactRange(
  key: string,
  range: ByteRange,
  body: Readable,
  contentRange: string | undefined,
  contentLength: number | undefined,
): Readable {
  const m = contentRange ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange.trim()) : null;
  const got = m ? { start: Number(m[1]), end: Number(m[2]), size: m[3] === '*' ? undefined : Number(m[3]) } : null;
  const size = got ? got.size : contentLength;
  if (size !== undefined && range.start >= size) {
    body.destroy();
    throw rangeNotSatisfiable(key, range, size);
  }
  const from = got?.start ?? 0;
  const end = Math.min(range.end, size === undefined ? (got?.end ?? range.end) : size - 1);
  if (from === range.start && (got?.end ?? (size ?? 0) - 1) === end) return body;
  if (from > range.start || (got && got.end < end)) {
    body.destroy();
    throw new AppError('internal_error', 'S3 returned a different byte range', { key, ...range, contentRange });
  }
  return Readable.from(slice(body, range.start - from, end - range.start + 1));
}

/** Skips `skip` bytes of body, yields the next `take`, then stops reading (and destroys) the body. */
async function* slice(body: Readable, skip: number, take: number): AsyncGenerator<Buffer> {
  let seen = 0;
  let left = take;
  try {
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      const from = Math.min(buf.length, Math.max(0, skip - seen));
      seen += buf.length;
      const piece = buf.subarray(from, from + Math.min(left, buf.length - from));
      if (piece.length > 0) {
        left -= piece.length;
        yield piece;
      }
      if (left === 0) return;
    }
  } finally {
    body.destroy();
  }
  throw new AppError('internal_error', 'S3 response ended early', { missing: left });
}

function statusOf(err: unknown): number | undefined {
  const e = err as { $metadata?: { httpStatusCode?: number }; name?: string } | null;
  if (e?.name === 'NotFound' || e?.name === 'NoSuchKey') return 404;
  return e?.$metadata?.httpStatusCode;
}

function storageError(op: string, key: string, err: unknown): AppError {
  if (err instanceof AppError) return err;
  // details reach clients: the S3 error name only; the message (bucket, account) stays in the cause.
  const name = (err as { name?: unknown } | null)?.name;
  return new AppError(
    'internal_error',
    `Object storage ${op} failed`,
    { key, error: typeof name === 'string' ? name : 'Error' },
    { cause: err },
  );
}
