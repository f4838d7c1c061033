/**
 * Our own HTTP(S) downloader for progressive media URLs.
 *
 * - Bytes stream into `DEST.part` (backpressure end to end, memory independent
 *   of the file size); DEST appears only once the size equals the server's total.
 * - `DEST.part.json` (the sidecar) records the object's identity (total size,
 *   ETag / Last-Modified; never the URL, which expires) and, in chunked mode,
 *   how many bytes of each chunk are on disk, so a later call, even with a
 *   freshly extracted URL, resumes only what is missing (If-Range guarded).
 * - Large files on range-capable servers are fetched as ranged chunks written
 *   at their offsets into a preallocated `.part`; each chunk retries on its own
 *   and resumes from the bytes it already wrote. A fresh download starts on one
 *   response that runs on through the chunks while each arrives fast
 *   (soloMinBps); the first slow one brings in parallel connections, so
 *   throttled hosts are fetched in parallel. Connections beyond a download's
 *   first come from a pool shared by the process (EXTRA_CONNECTIONS).
 * - Bodies arrive as Node streams of views into buffers the transport owns
 *   (HttpClient.stream → BulkAgent) and go to disk through fs write streams
 *   (reads and writes overlap, with backpressure); each chunk is handed back
 *   (recycle) once written, so its buffer is read into again instead of a new
 *   one being allocated. No fdatasync: only `.part` + sidecar are ever resumed from.
 * - 403/410 are surfaced at once (reason 'forbidden': the caller re-extracts),
 *   404 is not_found, 429/5xx/network/idle timeouts are retried with backoff.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../../errors/app-error.js';
import type { StreamResponse } from '../../infra/http-client/http-client.js';
import {
  type DownloadProgress,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_PROGRESS_INTERVAL_MS,
  ProgressMeter,
  RequestScope,
  type TransferOptions,
  abortReason,
  checkStatus,
  hostOf,
  openStream,
  discardBody,
  retrying,
  type BodyCopy,
  copyBodyToFile,
  WRITE_HIGH_WATER_MARK,
} from './common.js';

export type { DownloadProgress } from './common.js';

export const DEFAULT_CONNECTIONS = 4;
export const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;
export const DEFAULT_CHUNK_THRESHOLD = 16 * 1024 * 1024;
/**
 * One connection this fast leaves little for parallel ones to add, and on a fast link they cost
 * more CPU than they win: on the download benchmark (loopback, 200 MiB) one connection needed ~20 %
 * less CPU than four and was no slower. Throttled hosts (YouTube's per-connection limit) stay far
 * below it and get the parallel connections within a chunk's time at this speed (125 ms).
 */
export const DEFAULT_SOLO_MIN_BPS = 64 * 1024 * 1024;

/**
 * Ranged connections beyond each download's first, shared by every download
 * in the process. Chunking lets one download fill the pipe; with many running
 * the pipe is full anyway, and each extra connection costs buffers and CPU
 * (the download benchmark's 20 downloads at once: 160 MiB peak RSS with 4
 * connections each, 135 MiB with the pool, and faster).
 */
export const EXTRA_CONNECTIONS = 6;

class ConnectionPool {
  constructor(private free: number) {}

  take(): boolean {
    if (this.free <= 0) return false;
    this.free--;
    return true;
  }

  release(): void {
    this.free++;
  }
}

const extraConnections = new ConnectionPool(EXTRA_CONNECTIONS);

export interface HttpDownloadOptions extends TransferOptions {
  onProgress?: (progress: DownloadProgress) => void;
  /**
   * Concurrent ranged requests in chunked mode (default 4; those beyond the first as the
   * process-wide pool allows); 1 disables chunking.
   */
  connections?: number;
  /** Chunk size in chunked mode (default 8 MiB). */
  chunkSize?: number;
  /** Files at least this large (and range-capable) are fetched in chunks (default 16 MiB). */
  chunkThreshold?: number;
  /**
   * A fresh chunked download starts on its first response alone, which carries on through the
   * following chunks while each arrives at least this fast (default 64 MiB/s); the first chunk
   * slower than that brings in the parallel ranged connections for the rest. Infinity: parallel
   * from the start.
   */
  soloMinBps?: number;
  /** Hash the finished file and return its sha256 (hex). */
  sha256?: boolean;
  /**
   * Keep the `.part.json` sidecar (default true). Without it a resume trusts the
   * `.part` length alone, and chunked mode is off (a preallocated `.part` needs its chunk map).
   */
  sidecar?: boolean;
}

export interface DownloadResult {
  path: string;
  size: number;
  sha256?: string;
  /** bytes from an earlier attempt's `.part` were kept */
  resumed: boolean;
  /** ranged chunks in chunked mode, 1 in single-stream mode */
  chunks: number;
}

/** Stored next to the `.part`: what object the partial bytes belong to. */
export interface PartSidecar {
  version: 1;
  total: number | null;
  etag: string | null;
  lastModified: string | null;
  /** chunked mode only */
  chunkSize: number | null;
  /** chunked mode only: bytes on disk per chunk, counted from the chunk's start */
  chunks: number[] | null;
}

/** The partial state does not belong to the object upstream serves now: start over. */
class RestartSignal extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'RestartSignal';
  }
}

interface ResponseInfo {
  status: number;
  /** first byte offset of the body within the object */
  start: number;
  /** last byte offset (inclusive) announced by Content-Range */
  end: number | null;
  total: number | null;
  /** Content-Length */
  length: number | null;
  etag: string | null;
  lastModified: string | null;
  acceptRanges: boolean;
}

function parseResponse(res: StreamResponse): ResponseInfo {
  const h = res.headers;
  const lengthHeader = h.get('content-length');
  const length = lengthHeader !== null && /^\d+$/.test(lengthHeader.trim()) ? Number(lengthHeader) : null;
  const info: ResponseInfo = {
    status: res.status,
    start: 0,
    end: null,
    total: null,
    length,
    etag: h.get('etag'),
    lastModified: h.get('last-modified'),
    acceptRanges: (h.get('accept-ranges') ?? '').toLowerCase().includes('bytes'),
  };
  const cr = h.get('content-range')?.trim() ?? '';
  if (res.status === 206) {
    const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(cr);
    if (!m)
      throw new AppError('upstream_error', 'A partial response without a usable Content-Range', {
        reason: 'bad_range',
      });
    info.start = Number(m[1]);
    info.end = Number(m[2]);
    info.total = m[3] === '*' ? null : Number(m[3]);
    info.acceptRanges = true;
  } else if (res.status === 416) {
    const m = /^bytes\s+\*\/(\d+)$/i.exec(cr);
    info.total = m ? Number(m[1]) : null;
  } else {
    info.total = length;
  }
  return info;
}

/** The validator for If-Range: a strong ETag, else Last-Modified. */
function ifRangeValue(side: { etag: string | null; lastModified: string | null }): string | null {
  if (side.etag && !side.etag.startsWith('W/')) return side.etag;
  return side.lastModified ?? null;
}

function sameObject(known: Identity, info: ResponseInfo): boolean {
  if (known.total !== null && info.total !== null && known.total !== info.total) return false;
  if (known.etag && info.etag && known.etag !== info.etag) return false;
  if (known.lastModified && info.lastModified && known.lastModified !== info.lastModified) return false;
  return true;
}

interface Identity {
  total: number | null;
  etag: string | null;
  lastModified: string | null;
}

async function sizeOf(file: string): Promise<number | null> {
  try {
    const st = await stat(file);
    return st.isFile() ? st.size : null;
  } catch {
    return null;
  }
}

function validSidecar(v: unknown): v is PartSidecar {
  const s = v as Partial<PartSidecar> | null;
  if (!s || typeof s !== 'object' || s.version !== 1) return false;
  const total = s.total;
  if (total !== null && !(typeof total === 'number' && Number.isSafeInteger(total) && total >= 0)) return false;
  if (!(s.etag === null || typeof s.etag === 'string')) return false;
  if (!(s.lastModified === null || typeof s.lastModified === 'string')) return false;
  if (s.chunks === null || s.chunks === undefined) return true;
  const size = s.chunkSize;
  if (!Array.isArray(s.chunks) || typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0) return false;
  if (total === null || s.chunks.length !== Math.ceil(total / size)) return false;
  return s.chunks.every((n, i) => Number.isSafeInteger(n) && n >= 0 && n <= chunkLength(total, size, i));
}

/** 'invalid' when a sidecar exists but cannot be trusted. */
async function readSidecar(file: string): Promise<PartSidecar | null | 'invalid'> {
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch {
    return null;
  }
  try {
    const parsed: unknown = JSON.parse(raw);
    return validSidecar(parsed) ? parsed : 'invalid';
  } catch {
    return 'invalid';
  }
}

/** Serialized, atomic (write + rename) sidecar updates. */
class SidecarWriter {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly enabled: boolean,
  ) {}

  save(data: PartSidecar): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    const json = JSON.stringify(data);
    const tmp = `${this.file}.tmp`;
    const p = this.chain.then(async () => {
      await writeFile(tmp, json);
      await rename(tmp, this.file);
    });
    this.chain = p.catch(() => undefined);
    return p;
  }

  async remove(): Promise<void> {
    await this.chain;
    await rm(this.file, { force: true });
    await rm(`${this.file}.tmp`, { force: true });
  }
}

function chunkLength(total: number, chunkSize: number, i: number): number {
  return Math.min(chunkSize, total - i * chunkSize);
}

interface Ctx {
  url: string;
  dest: string;
  part: string;
  opts: HttpDownloadOptions;
  idleMs: number;
  meter: ProgressMeter;
  sidecar: SidecarWriter;
  signal: AbortSignal | undefined;
}

/**
 * Downloads `url` to `destPath`. Resumes from `destPath.part` when present;
 * on failure or cancellation the `.part` (and its sidecar) are left for a
 * later resume, except after a size mismatch, when they are discarded.
 */
export async function downloadHttp(url: string, destPath: string, opts: HttpDownloadOptions): Promise<DownloadResult> {
  if (opts.signal?.aborted) throw abortReason(opts.signal);
  const part = `${destPath}.part`;
  const ctx: Ctx = {
    url,
    dest: destPath,
    part,
    opts,
    idleMs: opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    meter: new ProgressMeter(opts.onProgress, null, opts.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS),
    sidecar: new SidecarWriter(`${part}.json`, opts.sidecar !== false),
    signal: opts.signal,
  };
  await mkdir(path.dirname(destPath), { recursive: true });
  for (let restarts = 0; ; restarts++) {
    try {
      return await runOnce(ctx);
    } catch (err) {
      if (!(err instanceof RestartSignal)) throw err;
      if (restarts >= 2) {
        throw new AppError('upstream_error', 'The remote file kept changing during the download', {
          host: hostOf(url),
          reason: 'object_changed',
        });
      }
      await discard(ctx);
    }
  }
}

async function discard(ctx: Ctx): Promise<void> {
  await ctx.sidecar.remove();
  await rm(ctx.part, { force: true });
}

async function runOnce(ctx: Ctx): Promise<DownloadResult> {
  let partSize = await sizeOf(ctx.part);
  let side: PartSidecar | null = null;
  if (partSize === null) {
    await ctx.sidecar.remove();
  } else {
    const read = ctx.opts.sidecar === false ? null : await readSidecar(`${ctx.part}.json`);
    if (read === 'invalid' || (read?.chunks && partSize !== read.total)) {
      await discard(ctx);
      partSize = null;
    } else {
      side = read;
    }
  }
  if (side?.chunks) return chunked(ctx, side, null, true);
  return single(ctx, partSize ?? 0, side);
}

// ---------------------------------------------------------------------------
// Single-stream mode

interface SingleState extends Identity {
  /** bytes on disk in `.part` */
  offset: number;
  /** nothing on disk and no response seen yet: the first answer may switch to chunked mode */
  fresh: boolean;
  /** the largest end offset any response claimed (start + Content-Length) */
  claimedEnd: number;
  /** bytes from before this call that are still in use (0 after a restart from zero) */
  kept: number;
}

interface Opened {
  res: StreamResponse;
  scope: RequestScope;
  info: ResponseInfo;
}

async function single(ctx: Ctx, offset: number, side: PartSidecar | null): Promise<DownloadResult> {
  const s: SingleState = {
    offset,
    fresh: offset === 0,
    claimedEnd: 0,
    kept: offset,
    total: side?.total ?? null,
    etag: side?.etag ?? null,
    lastModified: side?.lastModified ?? null,
  };
  ctx.meter.total = s.total;
  ctx.meter.reset(offset);
  const outcome = await retrying(() => singleAttempt(ctx, s), {
    ...retryOpts(ctx.opts),
    signal: ctx.signal,
    progress: () => s.offset,
  });
  if (outcome !== 'done') {
    const { info } = outcome;
    const total = info.total!;
    const chunkSize = Math.max(1, ctx.opts.chunkSize ?? DEFAULT_CHUNK_SIZE);
    const fresh: PartSidecar = {
      version: 1,
      total,
      etag: info.etag,
      lastModified: info.lastModified,
      chunkSize,
      chunks: new Array<number>(Math.ceil(total / chunkSize)).fill(0),
    };
    return chunked(ctx, fresh, outcome, false);
  }

  const size = s.offset;
  const expected = Math.max(s.total ?? size, s.claimedEnd);
  if (size !== expected) {
    await discard(ctx);
    throw new AppError('upstream_error', 'The download ended with a different size than upstream announced', {
      host: hostOf(ctx.url),
      reason: 'size_mismatch',
      expected,
      got: size,
    });
  }
  if ((await sizeOf(ctx.part)) === null) await writeFile(ctx.part, ''); // an empty object
  ctx.meter.total = size;
  return complete(ctx, size, s.kept > 0, 1);
}

/** One request in single-stream mode: resumes at s.offset, appends to `.part`, updates s. */
async function singleAttempt(ctx: Ctx, s: SingleState): Promise<'done' | Opened> {
  const offset = s.offset;
  const validator = offset > 0 ? ifRangeValue(s) : null;
  const headers: Record<string, string> = { range: `bytes=${offset}-` };
  if (validator) headers['if-range'] = validator;
  const scope = new RequestScope(ctx.idleMs, ctx.signal);
  let handedOver = false;
  try {
    const res = await openStream(ctx.opts, ctx.url, scope, headers);
    await checkStatus(res, ctx.url, [200, 206, 416]);
    const info = parseResponse(res);

    if (res.status === 416) {
      await discardBody(res);
      // Nothing left to send: complete if our bytes are exactly the object, otherwise it changed.
      if (info.total !== null && info.total === offset && (s.total === null || s.total === offset)) {
        s.total = offset;
        return 'done';
      }
      throw new RestartSignal('range not satisfiable');
    }

    let writeFrom = offset;
    if (res.status === 206) {
      if (info.start !== offset || !sameObject(s, info)) {
        await discardBody(res);
        throw new RestartSignal('partial response does not continue the .part');
      }
      const chunkable =
        s.fresh &&
        ctx.opts.sidecar !== false && // a preallocated .part is only safe with its chunk map
        info.total !== null &&
        (ctx.opts.connections ?? DEFAULT_CONNECTIONS) > 1 &&
        info.total >= (ctx.opts.chunkThreshold ?? DEFAULT_CHUNK_THRESHOLD);
      if (chunkable) {
        handedOver = true;
        return { res, scope, info };
      }
    } else {
      // 200: the whole object again (no range support, or If-Range said it changed).
      writeFrom = 0;
      s.kept = 0;
      s.claimedEnd = 0;
    }

    const identityChanged =
      s.fresh ||
      writeFrom === 0 ||
      (info.total !== null && info.total !== s.total) ||
      (info.etag !== null && info.etag !== s.etag) ||
      (info.lastModified !== null && info.lastModified !== s.lastModified);
    if (writeFrom === 0 || info.total !== null) s.total = info.total;
    if (info.etag !== null || writeFrom === 0) s.etag = info.etag;
    if (info.lastModified !== null || writeFrom === 0) s.lastModified = info.lastModified;
    s.fresh = false;
    if (info.length !== null) s.claimedEnd = Math.max(s.claimedEnd, writeFrom + info.length);
    ctx.meter.total = s.total;
    if (writeFrom === 0 && offset > 0) ctx.meter.reset(0);
    if (identityChanged) {
      await ctx.sidecar.save({
        version: 1,
        total: s.total,
        etag: s.etag,
        lastModified: s.lastModified,
        chunkSize: null,
        chunks: null,
      });
    }

    const out = createWriteStream(ctx.part, {
      flags: writeFrom === 0 ? 'w' : 'a',
      highWaterMark: WRITE_HIGH_WATER_MARK,
    });
    let received = 0;
    let bodyError: unknown;
    try {
      ({ bodyError } = await copyBodyToFile(res.body, out, {
        recycle: res.recycle,
        onData: (n) => {
          scope.touch();
          received += n;
          ctx.meter.set(writeFrom + received);
        },
      }));
    } catch (err) {
      // The file side failed (disk full...): not an upstream problem.
      throw scope.mapError(err, ctx.url, ctx.signal);
    }
    s.offset = (await sizeOf(ctx.part)) ?? 0;
    ctx.meter.set(s.offset);
    if (bodyError !== null) {
      const mapped = scope.mapError(bodyError, ctx.url, ctx.signal);
      // Everything the object holds is on disk (a server that over-announced, then closed): let the size check decide.
      if (!ctx.signal?.aborted && s.total !== null && s.offset >= s.total) return 'done';
      throw mapped;
    }
    if (s.total !== null && s.offset < s.total) {
      throw new AppError('upstream_error', 'The response ended before the whole file arrived', {
        host: hostOf(ctx.url),
        reason: 'short_read',
        expected: s.total,
        got: s.offset,
      });
    }
    return 'done';
  } finally {
    if (!handedOver) scope.dispose();
  }
}

// ---------------------------------------------------------------------------
// Chunked mode

async function chunked(
  ctx: Ctx,
  side: PartSidecar,
  probe: Opened | null,
  resumedFromDisk: boolean,
): Promise<DownloadResult> {
  const total = side.total!;
  const chunkSize = side.chunkSize!;
  const chunks = side.chunks!;
  const count = chunks.length;
  const identity: Identity = { total, etag: side.etag, lastModified: side.lastModified };
  const save = (): Promise<void> => ctx.sidecar.save({ ...side, chunks: [...chunks] });
  const startDone = chunks.reduce((a, b) => a + b, 0);
  ctx.meter.total = total;
  ctx.meter.reset(startDone);

  if (probe) {
    // Sidecar first: a preallocated `.part` without one would look like a finished single-stream file.
    try {
      await save();
      const fh = await open(ctx.part, 'w');
      await fh.truncate(total).finally(() => fh.close());
    } catch (err) {
      probe.scope.dispose();
      await discardBody(probe.res);
      throw err;
    }
  }

  // Aborted on the caller's cancel or the first fatal error, so every worker stops.
  const stop = new AbortController();
  const onCancel = (): void => stop.abort(ctx.signal!.reason);
  ctx.signal?.addEventListener('abort', onCancel, { once: true });
  probe?.scope.link(stop.signal);

  const queue: number[] = [];
  for (let i = 0; i < count; i++) if (chunks[i]! < chunkLength(total, chunkSize, i)) queue.push(i);

  let failure: unknown = null;
  const fail = (err: unknown): void => {
    if (failure === null) failure = err;
    if (!stop.signal.aborted) stop.abort(err);
  };
  const bounds = (i: number): { chunkStart: number; chunkEnd: number } => {
    const chunkStart = i * chunkSize;
    return { chunkStart, chunkEnd: chunkStart + chunkLength(total, chunkSize, i) - 1 };
  };
  const openChunk = async (i: number): Promise<Opened> => {
    const { chunkStart, chunkEnd } = bounds(i);
    const scope = new RequestScope(ctx.idleMs, stop.signal);
    try {
      const headers: Record<string, string> = { range: `bytes=${chunkStart + chunks[i]!}-${chunkEnd}` };
      const validator = ifRangeValue(identity);
      if (validator) headers['if-range'] = validator;
      const res = await openStream(ctx.opts, ctx.url, scope, headers, stop.signal);
      await checkStatus(res, ctx.url, [200, 206, 416]);
      if (res.status !== 206) {
        await discardBody(res);
        throw new RestartSignal(`HTTP ${res.status} to a chunk request`);
      }
      return { res, scope, info: parseResponse(res) };
    } catch (err) {
      scope.dispose();
      throw err;
    }
  };

  // The first response (the probe, or on resume the first missing chunk's) proves the object is
  // unchanged before the other connections open.
  let pending: { index: number; opened: Opened } | null = null;
  if (probe && queue[0] === 0) {
    pending = { index: 0, opened: probe };
  } else if (probe) {
    probe.scope.dispose();
    await discardBody(probe.res);
  } else if (queue.length > 0) {
    try {
      const first = queue[0]!;
      const opened = await retrying(() => openChunk(first), { ...retryOpts(ctx.opts), signal: stop.signal });
      if (opened.info.start !== bounds(first).chunkStart + chunks[first]! || !sameObject(identity, opened.info)) {
        opened.scope.dispose();
        await discardBody(opened.res);
        throw new RestartSignal('chunk response does not match the object');
      }
      pending = { index: first, opened };
    } catch (err) {
      fail(err);
    }
  }

  // A fresh download starts solo: the probe's response runs on from chunk to chunk while each chunk
  // arrives within chunkSize / soloMinBps. The first that does not (or the end of the solo run for
  // any other reason) brings in the parallel workers. A resume is parallel from the start.
  const soloMinBps = ctx.opts.soloMinBps ?? DEFAULT_SOLO_MIN_BPS;
  let solo = probe !== null && queue[0] === 0 && soloMinBps < Number.POSITIVE_INFINITY;
  const goParallel = (): void => {
    solo = false;
    clearTimeout(soloTimer);
    addWorkers();
  };
  const soloTimer = solo ? setTimeout(goParallel, Math.ceil((chunkSize / soloMinBps) * 1000)) : undefined;

  /** Fills chunk `i` and, while solo, the chunks after it from the same response. */
  const runChunk = async (i: number): Promise<void> => {
    let cur = i;
    let initial: Opened | null = null;
    if (pending?.index === i) {
      initial = pending.opened;
      pending = null;
    }
    let progress = 0;
    await retrying(
      async () => {
        const { chunkStart, chunkEnd } = bounds(cur);
        const pos = chunkStart + chunks[cur]!;
        const opened = initial ?? (await openChunk(cur));
        initial = null;
        const responseEnd = opened.info.end ?? chunkEnd;
        /** Claims the next chunk for this response, if solo and the response covers it. */
        const extend = (): number => {
          const next = cur + 1;
          if (!solo || queue[0] !== next || responseEnd < bounds(next).chunkEnd || stop.signal.aborted) return 0;
          queue.shift();
          cur = next;
          soloTimer?.refresh();
          void save().catch(() => undefined); // the chunks done so far; the run's end saves (and reports) again
          return chunkLength(total, chunkSize, next);
        };
        // Writes land in order: credit each to the chunk its bytes belong to.
        let at = pos;
        const credit = (n: number): void => {
          progress += n;
          while (n > 0) {
            const j = Math.floor(at / chunkSize);
            const take = Math.min(n, bounds(j).chunkEnd - at + 1);
            chunks[j]! += take;
            at += take;
            n -= take;
          }
        };
        try {
          await pumpChunk(ctx, opened, identity, pos, chunkEnd, stop.signal, credit, extend);
        } finally {
          opened.scope.dispose();
        }
        if (chunks[cur]! < chunkLength(total, chunkSize, cur)) {
          throw new AppError('upstream_error', 'A chunk response ended early', {
            host: hostOf(ctx.url),
            reason: 'short_read',
          });
        }
      },
      { ...retryOpts(ctx.opts), signal: stop.signal, progress: () => progress },
    );
    await save();
  };

  // One connection is the download's own; more come from the process-wide pool, taken when free
  // (once parallel, and again after every chunk) and given back when the queue runs dry.
  const maxWorkers = Math.min(queue.length, Math.max(1, ctx.opts.connections ?? DEFAULT_CONNECTIONS));
  const running = new Set<Promise<void>>();
  const startWorker = (pooled: boolean): void => {
    const run = (async () => {
      try {
        for (let i = queue.shift(); i !== undefined && !stop.signal.aborted; i = queue.shift()) {
          try {
            await runChunk(i);
          } catch (err) {
            fail(err);
          }
          if (solo)
            goParallel(); // the solo run is over with chunks left (a retry, or its response ended)
          else addWorkers();
        }
      } finally {
        if (pooled) extraConnections.release();
      }
    })();
    running.add(run);
    void run.finally(() => running.delete(run));
  };
  const addWorkers = (): void => {
    while (!solo && running.size < maxWorkers && queue.length > 0 && !stop.signal.aborted && extraConnections.take()) {
      startWorker(true);
    }
  };
  startWorker(false);
  addWorkers();

  try {
    while (running.size > 0) await Promise.all(running);
  } finally {
    clearTimeout(soloTimer);
    ctx.signal?.removeEventListener('abort', onCancel);
    const left = pending as { opened: Opened } | null;
    if (left) {
      left.opened.scope.dispose();
      await discardBody(left.opened.res);
    }
    // Record partial chunks too: every counted byte has been written.
    await save().catch(() => undefined);
  }

  if (ctx.signal?.aborted) throw abortReason(ctx.signal);
  if (failure !== null) throw failure;

  const done = chunks.reduce((a, b) => a + b, 0);
  if (done !== total) {
    throw new AppError('upstream_error', 'The chunks do not add up to the file size', {
      host: hostOf(ctx.url),
      reason: 'size_mismatch',
      expected: total,
      got: done,
    });
  }
  // No fdatasync before the rename: a resume never trusts a finished file (the pipeline fetches again
  // after a crash), only `.part` + sidecar, so syncing would buy nothing and cost a disk flush per file.
  return complete(ctx, total, resumedFromDisk && startDone > 0, count);
}

/**
 * Streams one ranged response into the chunk's region of `.part` (a positional
 * write stream, backpressure end to end). `written` learns the bytes on disk
 * before anything is thrown, so a broken transfer's bytes still count.
 */
async function pumpChunk(
  ctx: Ctx,
  opened: Opened,
  identity: Identity,
  pos: number,
  chunkEnd: number,
  cancel: AbortSignal,
  written: (n: number) => void,
  extend: () => number,
): Promise<void> {
  const { res, scope, info } = opened;
  if (info.start !== pos || !sameObject(identity, info)) {
    await discardBody(res);
    throw new RestartSignal('chunk response does not match the object');
  }
  const out = createWriteStream(ctx.part, { flags: 'r+', start: pos, highWaterMark: WRITE_HIGH_WATER_MARK });
  let copy: BodyCopy;
  try {
    copy = await copyBodyToFile(res.body, out, {
      recycle: res.recycle,
      limit: chunkEnd - pos + 1,
      extend,
      onData: (n) => {
        scope.touch();
        ctx.meter.add(n);
      },
      // Credited as each write lands, not when the response ends: the chunk map saved when another
      // chunk finishes then records this chunk's partial bytes, which a resume after a kill keeps.
      onWritten: written,
    });
  } catch (err) {
    throw scope.mapError(err, ctx.url, ctx.signal?.aborted ? ctx.signal : cancel);
  }
  if (copy.bodyError !== null) throw scope.mapError(copy.bodyError, ctx.url, ctx.signal?.aborted ? ctx.signal : cancel);
}

// ---------------------------------------------------------------------------

function retryOpts(opts: HttpDownloadOptions) {
  return { tries: opts.tries, backoffBaseMs: opts.backoffBaseMs, backoffMaxMs: opts.backoffMaxMs };
}

async function complete(ctx: Ctx, size: number, resumed: boolean, chunks: number): Promise<DownloadResult> {
  await rename(ctx.part, ctx.dest);
  await ctx.sidecar.remove();
  const result: DownloadResult = { path: ctx.dest, size, resumed, chunks };
  if (ctx.opts.sha256) result.sha256 = await sha256File(ctx.dest);
  ctx.meter.finish();
  return result;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}
