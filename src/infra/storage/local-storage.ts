/**
 * Object storage on the local filesystem, under DATA_DIR/storage.
 *
 * - Keys pass safeKey() and map to files below the root; the resolved path
 *   must stay under the root, and symlinks on the way are followed only when
 *   their target is under the root as well.
 * - putFile() takes ownership of the source file: it is moved in (rename, or
 *   copy + unlink across filesystems) under a dot-prefixed temp name in the
 *   target directory, fsynced, then renamed over the key, so a half-written
 *   file is never visible under its key. On failure the source is left alone.
 * - The content type lives in a dot-prefixed sidecar (`.<name>.meta`); dot
 *   names can never be keys (safeKey segments start with a letter or digit).
 * - etag = `"<inode>-<size>-<mtime ns>"` (hex): free to compute and stable
 *   while the object is unchanged; every put gets a new inode and mtime.
 */
import { randomBytes } from 'node:crypto';
import { constants, type BigIntStats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { AppError } from '../../errors/app-error.js';
import { safeKey, type ByteRange, type ObjectStorage, type StoredObject } from './storage.js';

export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

export class LocalStorage implements ObjectStorage {
  readonly kind = 'local' as const;
  readonly root: string;
  private realRoot: Promise<string> | undefined;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  async putFile(key: string, filePath: string, contentType: string): Promise<StoredObject> {
    const file = await this.locate(key);
    if ((await statOrNull(file))?.isDirectory()) throw keyIsDirectory(key);
    const dir = path.dirname(file);
    const temp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
    const copied = await placeTemp(filePath, temp, dir);
    try {
      const now = new Date();
      await fs.utimes(temp, now, now); // modified = stored at
      await fsyncPath(temp);
      await writeFileAtomic(metaPath(file), JSON.stringify({ contentType }));
      try {
        await fs.rename(temp, file);
      } catch (err) {
        if (isCode(err, 'EISDIR', 'ENOTEMPTY', 'EEXIST')) throw keyIsDirectory(key, err);
        throw err;
      }
    } catch (err) {
      // Give the source back when it was moved in; drop the temp copy otherwise.
      if (copied) await fs.rm(temp, { force: true });
      else await fs.rename(temp, filePath).catch(() => fs.rm(temp, { force: true }));
      const existing = await statOrNull(file).catch(() => null);
      if (!existing?.isFile()) await fs.rm(metaPath(file), { force: true }).catch(() => {});
      throw err;
    }
    await fsyncDir(dir);
    if (copied) await fs.rm(filePath, { force: true });
    const stored = await this.stat(key);
    if (!stored) throw new AppError('internal_error', 'Stored object vanished', { key });
    return stored;
  }

  async stat(key: string): Promise<StoredObject | null> {
    const file = await this.locate(key);
    const st = await statOrNull(file);
    if (!st?.isFile()) return null;
    return {
      key,
      size: Number(st.size),
      etag: etagOf(st),
      contentType: await readContentType(file),
      modified: new Date(Number(st.mtimeNs / 1_000_000n)),
    };
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    checkRange(range);
    const file = await this.locate(key);
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, 'r');
    } catch (err) {
      if (isCode(err, 'ENOENT', 'ENOTDIR', 'EISDIR')) throw notFound(key);
      throw err;
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw notFound(key);
      if (range && range.start >= st.size) throw rangeNotSatisfiable(key, range, st.size);
    } catch (err) {
      await handle.close();
      throw err;
    }
    return handle.createReadStream(range ? { start: range.start, end: range.end } : {});
  }

  async delete(key: string): Promise<void> {
    const file = await this.locate(key);
    let st: Awaited<ReturnType<typeof fs.lstat>>;
    try {
      st = await fs.lstat(file);
    } catch (err) {
      if (isCode(err, 'ENOENT', 'ENOTDIR')) return;
      throw err;
    }
    if (st.isDirectory()) return; // a key prefix, not an object
    await fs.rm(file, { force: true }); // unlink: a symlink itself is removed, never its target
    await fs.rm(metaPath(file), { force: true });
    await fsyncDir(path.dirname(file));
    await this.pruneEmptyDirs(path.dirname(file));
  }

  async close(): Promise<void> {}

  /** The root with symlinks resolved (created on first use). */
  private resolvedRoot(): Promise<string> {
    this.realRoot ??= (async () => {
      await fs.mkdir(this.root, { recursive: true });
      return fs.realpath(this.root);
    })().catch((err: unknown) => {
      this.realRoot = undefined;
      throw err;
    });
    return this.realRoot;
  }

  /**
   * Absolute path for a key. Refuses keys safeKey() rejects, paths that resolve
   * outside the root, and existing symlinks on the way whose target is outside
   * the root (or dangling).
   */
  private async locate(key: string): Promise<string> {
    safeKey(key);
    const root = await this.resolvedRoot();
    const file = path.resolve(root, key);
    if (!isInside(root, file)) throw escapes(key);
    let current = root;
    for (const segment of key.split('/')) {
      current = path.join(current, segment);
      let st;
      try {
        st = await fs.lstat(current);
      } catch (err) {
        if (isCode(err, 'ENOENT', 'ENOTDIR')) break; // nothing further exists yet
        throw err;
      }
      if (st.isSymbolicLink()) {
        const target = await fs.realpath(current).catch(() => undefined);
        if (target === undefined || !isInside(root, target)) throw escapes(key);
      }
    }
    return file;
  }

  /** Removes now-empty directories from dir up to (not including) the root. */
  private async pruneEmptyDirs(dir: string): Promise<void> {
    const root = await this.resolvedRoot();
    for (let current = dir; isInside(root, current); current = path.dirname(current)) {
      try {
        await fs.rmdir(current);
      } catch (err) {
        if (isCode(err, 'ENOENT')) continue;
        if (isCode(err, 'ENOTEMPTY', 'EEXIST', 'ENOTDIR', 'EBUSY', 'EPERM', 'EACCES')) return;
        throw err;
      }
    }
  }
}

/**
 * Moves (or, across filesystems, copies) src to temp, creating temp's
 * directory. Retries when a concurrent delete() prunes the directory between
 * mkdir and rename. Returns true when src was copied (and still exists).
 */
async function placeTemp(src: string, temp: string, dir: string): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    await fs.mkdir(dir, { recursive: true });
    try {
      await fs.rename(src, temp);
      return false;
    } catch (err) {
      if (isCode(err, 'EXDEV')) break;
      if (isCode(err, 'ENOENT') && attempt < 5 && (await statOrNull(src))) continue;
      if (isCode(err, 'ENOENT'))
        throw new AppError('internal_error', 'Source file not found', undefined, { cause: err });
      throw err;
    }
  }
  for (let attempt = 1; ; attempt++) {
    await fs.mkdir(dir, { recursive: true });
    try {
      await fs.copyFile(src, temp, constants.COPYFILE_EXCL);
      return true;
    } catch (err) {
      await fs.rm(temp, { force: true });
      if (isCode(err, 'ENOENT') && attempt < 5 && (await statOrNull(src))) continue;
      throw err;
    }
  }
}

async function writeFileAtomic(file: string, data: string): Promise<void> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await fs.writeFile(temp, data, { flag: 'wx' });
    await fsyncPath(temp);
    await fs.rename(temp, file);
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw err;
  }
}

async function readContentType(file: string): Promise<string> {
  try {
    // O_NOFOLLOW: a planted symlink in place of the sidecar is not read through.
    const raw = await fs.readFile(metaPath(file), {
      encoding: 'utf8',
      flag: constants.O_RDONLY | constants.O_NOFOLLOW,
    });
    const meta = JSON.parse(raw) as { contentType?: unknown };
    return typeof meta.contentType === 'string' && meta.contentType ? meta.contentType : DEFAULT_CONTENT_TYPE;
  } catch {
    return DEFAULT_CONTENT_TYPE;
  }
}

function metaPath(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.meta`);
}

function etagOf(st: BigIntStats): string {
  return `"${st.ino.toString(16)}-${st.size.toString(16)}-${st.mtimeNs.toString(16)}"`;
}

async function statOrNull(file: string): Promise<BigIntStats | null> {
  try {
    return await fs.stat(file, { bigint: true });
  } catch (err) {
    if (isCode(err, 'ENOENT', 'ENOTDIR')) return null;
    throw err;
  }
}

async function fsyncPath(file: string): Promise<void> {
  const handle = await fs.open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes a rename/unlink in dir durable; not every platform can fsync a directory. */
async function fsyncDir(dir: string): Promise<void> {
  try {
    await fsyncPath(dir);
  } catch (err) {
    if (!isCode(err, 'EISDIR', 'EPERM', 'EINVAL', 'EBADF', 'EACCES')) throw err;
  }
}

function isInside(root: string, target: string): boolean {
  return target.startsWith(root + path.sep);
}

export function checkRange(range: ByteRange | undefined): void {
  if (!range) return;
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new AppError('validation_failed', 'Invalid byte range', { start, end });
  }
}

export function rangeNotSatisfiable(key: string, range: ByteRange, size?: number): AppError {
  return new AppError('validation_failed', 'Byte range not satisfiable', { key, ...range, size });
}

export function notFound(key: string): AppError {
  return new AppError('not_found', 'Stored object not found', { key });
}

function keyIsDirectory(key: string, cause?: unknown): AppError {
  return new AppError('conflict', 'Storage key is a directory', { key }, { cause });
}

function escapes(key: string): AppError {
  return new AppError('validation_failed', 'Storage key escapes the storage root', { key });
}

function isCode(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && codes.includes((err as { code?: string }).code ?? '');
}
