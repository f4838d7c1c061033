/**
 * HLS VOD downloader: playlist (master → variant) → segments fetched in
 * parallel into a work directory (each written to `.part`, renamed when whole,
 * so a later call skips finished segments) → concatenated in order into one
 * `.ts` (fMP4 playlists: init section + fragments). Unencrypted and AES-128
 * playlists only; anything else is refused. Remuxing happens elsewhere.
 */
import { createDecipheriv, createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../../errors/app-error.js';
import {
  type DownloadProgress,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_PROGRESS_INTERVAL_MS,
  ProgressMeter,
  RequestScope,
  type TransferOptions,
  abortReason,
  checkStatus,
  discardBody,
  hostOf,
  openRequest,
  openStream,
  retrying,
} from './common.js';
import {
  type HlsByteRange,
  type HlsKey,
  type HlsVariant,
  type MediaPlaylist,
  parseM3u8,
  segmentIv,
  selectVariant,
} from './m3u8.js';

export const DEFAULT_HLS_CONCURRENCY = 4;

export interface HlsProgress extends DownloadProgress {
  segmentsDone: number;
  segmentsTotal: number;
}

export interface HlsDownloadOptions extends TransferOptions {
  /** bytesTotal is an estimate until every segment is in */
  onProgress?: (progress: HlsProgress) => void;
  /** Parallel segment downloads (default 4). */
  concurrency?: number;
  /** With a master playlist: the variant URI to take (absolute or relative to the master); default the highest BANDWIDTH. */
  variantUrl?: string;
  /** Where segments are kept between attempts (default `${destPath}.hls`); removed on success. */
  workDir?: string;
  keepWorkDir?: boolean;
  /** Download the current window of a playlist without #EXT-X-ENDLIST instead of refusing it. */
  allowLive?: boolean;
}

export interface HlsDownloadResult {
  path: string;
  size: number;
  segments: number;
  /** segments found complete from an earlier attempt */
  resumedSegments: number;
  resumed: boolean;
  /** sum of EXTINF */
  durationS: number;
  /** the media playlist actually downloaded */
  playlistUrl: string;
  variant: HlsVariant | null;
  /** 'fmp4' when the playlist uses EXT-X-MAP init sections */
  container: 'ts' | 'fmp4';
}

interface Job {
  /** file name inside the work dir */
  name: string;
  uri: string;
  byteRange: HlsByteRange | null;
  key: HlsKey | null;
  iv: Uint8Array | null;
  isSegment: boolean;
}

function unsupportedKey(key: HlsKey): AppError {
  return new AppError('unsupported_url', `HLS encryption ${key.method} is not supported (only AES-128)`, {
    reason: 'unsupported_encryption',
    method: key.method,
    keyFormat: key.keyFormat,
  });
}

function checkKey(key: HlsKey | null): void {
  if (!key) return;
  if (key.method !== 'AES-128') throw unsupportedKey(key);
  if (key.keyFormat !== null && key.keyFormat !== 'identity') throw unsupportedKey(key);
  if (!key.uri) throw new AppError('upstream_error', 'AES-128 key without URI', { reason: 'bad_playlist' });
}

/** Fetches a small text/binary resource whole (playlists, keys), with retries. */
async function fetchWhole(url: string, opts: TransferOptions): Promise<Buffer> {
  const idleMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  return retrying(
    async () => {
      const scope = new RequestScope(idleMs, opts.signal);
      try {
        const res = await openRequest(opts, url, scope);
        await checkStatus(res, url, [200]);
        try {
          return Buffer.from(await res.arrayBuffer());
        } catch (err) {
          throw scope.mapError(err, url, opts.signal);
        }
      } finally {
        scope.dispose();
      }
    },
    { tries: opts.tries, backoffBaseMs: opts.backoffBaseMs, backoffMaxMs: opts.backoffMaxMs, signal: opts.signal },
  );
}

/** Loads the media playlist, going through a master playlist when given one. */
export async function loadMediaPlaylist(
  playlistUrl: string,
  opts: TransferOptions & { variantUrl?: string },
): Promise<{ playlist: MediaPlaylist; url: string; variant: HlsVariant | null }> {
  const first = parseM3u8((await fetchWhole(playlistUrl, opts)).toString('utf8'), playlistUrl);
  if (first.type === 'media') return { playlist: first, url: playlistUrl, variant: null };
  const variant = selectVariant(first, opts.variantUrl, playlistUrl);
  const media = parseM3u8((await fetchWhole(variant.uri, opts)).toString('utf8'), variant.uri);
  if (media.type !== 'media') {
    throw new AppError('upstream_error', 'A variant points to another master playlist', { reason: 'bad_playlist' });
  }
  return { playlist: media, url: variant.uri, variant };
}

/** What the work dir's files belong to: URL paths (queries carry expiring tokens), durations, ranges, keys. */
function fingerprint(playlist: MediaPlaylist): string {
  const strip = (u: string): string => {
    const url = new URL(u);
    return `${url.host}${url.pathname}`;
  };
  const hash = createHash('sha256');
  for (const s of playlist.segments) {
    hash.update(
      JSON.stringify([
        strip(s.uri),
        s.duration,
        s.byteRange,
        s.key && [s.key.method, s.key.uri && strip(s.key.uri), s.key.iv && Buffer.from(s.key.iv).toString('hex')],
        s.map && [strip(s.map.uri), s.map.byteRange],
      ]),
    );
  }
  return hash.digest('hex');
}

async function prepareWorkDir(dir: string, print: string): Promise<void> {
  const manifest = path.join(dir, 'manifest.json');
  let existing: string | null = null;
  try {
    existing = (JSON.parse(await readFile(manifest, 'utf8')) as { fingerprint?: string }).fingerprint ?? null;
  } catch {
    existing = null;
  }
  if (existing !== print) {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await writeFile(manifest, JSON.stringify({ version: 1, fingerprint: print }));
  }
}

async function sizeOf(file: string): Promise<number | null> {
  try {
    const st = await stat(file);
    return st.isFile() ? st.size : null;
  } catch {
    return null;
  }
}

/** Passes bytes [skip, skip + length) of the stream (a byte-range segment served whole with 200). */
function slicer(skip: number, length: number): Transform {
  let pos = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const from = Math.max(0, skip - pos);
      const to = Math.min(chunk.length, skip + length - pos);
      pos += chunk.length;
      cb(null, to > from ? chunk.subarray(from, to) : undefined);
    },
  });
}

function isDecryptError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return (
    (typeof e?.code === 'string' && e.code.startsWith('ERR_OSSL')) ||
    (typeof e?.message === 'string' && /bad decrypt|wrong final block length/i.test(e.message))
  );
}

/**
 * Downloads an HLS playlist into one file at destPath. Finished segments
 * survive in the work dir, so a repeated call after a failure or cancel
 * fetches only the missing ones.
 */
export async function downloadHls(
  playlistUrl: string,
  destPath: string,
  opts: HlsDownloadOptions,
): Promise<HlsDownloadResult> {
  const signal = opts.signal;
  if (signal?.aborted) throw abortReason(signal);
  const { playlist, url: mediaUrl, variant } = await loadMediaPlaylist(playlistUrl, opts);
  if (!playlist.endList && !opts.allowLive) {
    throw new AppError('upstream_error', 'The HLS playlist is live (no #EXT-X-ENDLIST)', { reason: 'live_playlist' });
  }
  if (playlist.segments.length === 0) {
    throw new AppError('upstream_error', 'The HLS playlist has no segments', { reason: 'bad_playlist' });
  }

  // Plan: init sections (where the map changes) and segments, in output order.
  const order: Job[] = [];
  const jobs: Job[] = [];
  const maps = new Map<string, Job>();
  let lastMap: string | null = null;
  playlist.segments.forEach((seg, i) => {
    checkKey(seg.key);
    if (seg.map) {
      const id = JSON.stringify([seg.map.uri, seg.map.byteRange]);
      let job = maps.get(id);
      if (!job) {
        checkKey(seg.map.key);
        if (seg.map.key && !seg.map.key.iv) {
          throw new AppError('upstream_error', 'An encrypted EXT-X-MAP needs an explicit IV', {
            reason: 'bad_playlist',
          });
        }
        job = {
          name: `init-${String(maps.size).padStart(3, '0')}.mp4`,
          uri: seg.map.uri,
          byteRange: seg.map.byteRange,
          key: seg.map.key,
          iv: seg.map.key?.iv ?? null,
          isSegment: false,
        };
        maps.set(id, job);
        jobs.push(job);
      }
      if (id !== lastMap) order.push(job);
      lastMap = id;
    }
    const job: Job = {
      name: `seg-${String(i).padStart(6, '0')}.ts`,
      uri: seg.uri,
      byteRange: seg.byteRange,
      key: seg.key,
      iv: seg.key ? segmentIv(seg.key, seg.sequence) : null,
      isSegment: true,
    };
    jobs.push(job);
    order.push(job);
  });

  const workDir = opts.workDir ?? `${destPath}.hls`;
  await mkdir(path.dirname(destPath), { recursive: true });
  await prepareWorkDir(workDir, fingerprint(playlist));

  const segmentsTotal = playlist.segments.length;
  let segmentsDone = 0;
  let doneBytes = 0;
  let doneSegmentBytes = 0;
  const inflight = new Map<Job, number>();
  const meter = new ProgressMeter(
    opts.onProgress ? (p) => opts.onProgress!({ ...p, segmentsDone, segmentsTotal }) : undefined,
    null,
    opts.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS,
  );
  const estimate = (): number | null => {
    if (segmentsDone === segmentsTotal) return doneBytes;
    if (segmentsDone > 0)
      return Math.round(doneBytes + (doneSegmentBytes / segmentsDone) * (segmentsTotal - segmentsDone));
    const bw = variant?.averageBandwidth ?? variant?.bandwidth ?? null;
    return bw ? Math.round((bw / 8) * playlist.durationS) : null;
  };
  const report = (): void => {
    let sum = doneBytes;
    for (const n of inflight.values()) sum += n;
    meter.total = estimate();
    meter.set(sum);
  };

  // Segments finished by an earlier attempt.
  const pending: Job[] = [];
  let resumedSegments = 0;
  for (const job of jobs) {
    const size = await sizeOf(path.join(workDir, job.name));
    if (size === null) {
      pending.push(job);
      continue;
    }
    doneBytes += size;
    if (job.isSegment) {
      segmentsDone++;
      resumedSegments++;
      doneSegmentBytes += size;
    }
  }
  meter.reset(doneBytes);
  meter.total = estimate();

  const keys = new Map<string, Promise<Buffer>>();
  const keyFor = (uri: string): Promise<Buffer> => {
    let p = keys.get(uri);
    if (!p) {
      p = fetchWhole(uri, opts).then((buf) => {
        if (buf.length !== 16) {
          throw new AppError('upstream_error', `The AES-128 key is ${buf.length} bytes, not 16`, {
            host: hostOf(uri),
            reason: 'bad_key',
          });
        }
        return buf;
      });
      keys.set(uri, p);
      p.catch(() => keys.delete(uri));
    }
    return p;
  };

  const stop = new AbortController();
  const onCancel = (): void => stop.abort(signal!.reason);
  signal?.addEventListener('abort', onCancel, { once: true });
  let failure: unknown = null;
  const idleMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;

  const fetchJob = async (job: Job): Promise<void> => {
    const final = path.join(workDir, job.name);
    const tmp = `${final}.part`;
    const key = job.key ? await keyFor(job.key.uri!) : null;
    const size = await retrying(
      async () => {
        inflight.set(job, 0);
        const scope = new RequestScope(idleMs, stop.signal);
        try {
          const range = job.byteRange;
          const headers: Record<string, string> = range
            ? { range: `bytes=${range.offset}-${range.offset + range.length - 1}` }
            : {};
          const res = await openStream(opts, job.uri, scope, headers, stop.signal);
          await checkStatus(res, job.uri, [200, 206]);
          let skip = 0;
          if (res.status === 206) {
            const m = /^bytes\s+(\d+)-/i.exec(res.headers.get('content-range') ?? '');
            const start = m ? Number(m[1]) : -1;
            if (!range || start !== range.offset) {
              await discardBody(res);
              throw new AppError('upstream_error', 'Unexpected partial response for a segment', {
                host: hostOf(job.uri),
                reason: 'bad_range',
              });
            }
          } else if (range) {
            skip = range.offset; // the server ignored Range: cut the segment out of the whole resource
          }
          const announced = Number(res.headers.get('content-length') ?? NaN);
          let received = 0;
          const counter = new Transform({
            transform(chunk: Buffer, _enc, cb) {
              scope.touch();
              received += chunk.length;
              inflight.set(job, received);
              report();
              cb(null, chunk);
            },
          });
          const stages: NodeJS.ReadWriteStream[] = [counter];
          if (range) stages.push(slicer(skip, range.length));
          if (key) stages.push(createDecipheriv('aes-128-cbc', key, job.iv!));
          try {
            await pipeline([res.body, ...stages, createWriteStream(tmp)]);
          } catch (err) {
            if (isDecryptError(err) && !stop.signal.aborted) {
              throw new AppError(
                'upstream_error',
                'Could not decrypt an HLS segment',
                { host: hostOf(job.uri), reason: 'decrypt_failed' },
                { cause: err },
              );
            }
            throw scope.mapError(err, job.uri, signal?.aborted ? signal : stop.signal);
          }
          const expected = Number.isFinite(announced) ? announced : range && !skip ? range.length : null;
          if (expected !== null && received < expected) {
            throw new AppError('upstream_error', 'A segment ended early', {
              host: hostOf(job.uri),
              reason: 'short_read',
            });
          }
          await rename(tmp, final);
          return received;
        } finally {
          scope.dispose();
          inflight.delete(job);
        }
      },
      {
        tries: opts.tries,
        backoffBaseMs: opts.backoffBaseMs,
        backoffMaxMs: opts.backoffMaxMs,
        signal: stop.signal,
      },
    );
    doneBytes += size;
    if (job.isSegment) {
      segmentsDone++;
      doneSegmentBytes += size;
    }
    report();
  };

  const queue = [...pending];
  const workers = Array.from(
    { length: Math.min(queue.length, Math.max(1, opts.concurrency ?? DEFAULT_HLS_CONCURRENCY)) },
    async () => {
      for (let job = queue.shift(); job && !stop.signal.aborted; job = queue.shift()) {
        try {
          await fetchJob(job);
        } catch (err) {
          if (failure === null) failure = err;
          if (!stop.signal.aborted) stop.abort(err);
        }
      }
    },
  );
  try {
    await Promise.all(workers);
  } finally {
    signal?.removeEventListener('abort', onCancel);
  }
  if (signal?.aborted) throw abortReason(signal);
  if (failure !== null) throw failure;

  // Concatenate in playlist order.
  const part = `${destPath}.part`;
  const fh = await open(part, 'w');
  try {
    for (const job of order) {
      if (signal?.aborted) throw abortReason(signal);
      for await (const chunk of createReadStream(path.join(workDir, job.name))) {
        const buf = chunk as Buffer;
        for (let off = 0; off < buf.length;) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
      }
    }
    await fh.close();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(part, { force: true });
    throw err;
  }
  const size = (await sizeOf(part)) ?? 0;
  await rename(part, destPath);
  if (!opts.keepWorkDir) await rm(workDir, { recursive: true, force: true });
  meter.total = doneBytes;
  meter.finish();
  return {
    path: destPath,
    size,
    segments: segmentsTotal,
    resumedSegments,
    resumed: resumedSegments > 0,
    durationS: playlist.durationS,
    playlistUrl: mediaUrl,
    variant,
    container: maps.size > 0 ? 'fmp4' : 'ts',
  };
}
