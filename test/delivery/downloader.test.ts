/**
 * The HTTP downloader against real sockets on 127.0.0.1: the media server
 * (Range support, scripted misbehaviour, request log) and, where headers
 * matter, a tiny recording server. Every result is checked byte for byte.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors/app-error.js';
import { copyBodyToFile } from '../../src/delivery/downloader/common.js';
import {
  type DownloadProgress,
  type HttpDownloadOptions,
  type PartSidecar,
  downloadHttp,
  EXTRA_CONNECTIONS,
} from '../../src/delivery/downloader/http-download.js';
import { HttpClient } from '../../src/infra/http-client/http-client.js';
import { makeMedia } from '../support/media.js';
import { type MediaServer, type RequestRecord, startMediaServer } from '../support/media-server.js';

const MiB = 1024 * 1024;
const sha = (buf: Buffer): string => createHash('sha256').update(buf).digest('hex');

let dir: string;
let out: string;
let server: MediaServer;
let client: HttpClient;
let mp4: Buffer;
let mp4Name: string;
const small = randomBytes(1 * MiB);
const medium = randomBytes(2 * MiB);
const big = randomBytes(24 * MiB);

const SMALL_FILES = ['drop', 'forbidden', 'flaky', 'lying', 'notfound-not-written', 'late'];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ytbh-dl-src-'));
  out = await mkdtemp(path.join(os.tmpdir(), 'ytbh-dl-out-'));
  const media = await makeMedia(dir, { durationS: 2, width: 320, height: 240, kind: 'muxed', container: 'mp4' });
  mp4Name = media.name;
  mp4 = await readFile(media.path);
  for (const name of SMALL_FILES) await writeFile(path.join(dir, `${name}.bin`), small);
  for (const name of ['cancel', 'crash']) await writeFile(path.join(dir, `${name}.bin`), medium);
  for (const name of ['big', 'big-drop', 'big-resume', 'big-solo', 'big-solo-stop'])
    await writeFile(path.join(dir, `${name}.bin`), big);
  await writeFile(path.join(dir, 'pool.bin'), medium);
  await rm(path.join(dir, 'notfound-not-written.bin'));
  await writeFile(path.join(dir, 'empty.bin'), '');
  server = await startMediaServer(dir, {
    paths: {
      '/big.bin': { throttleBytesPerSec: 16 * MiB },
      '/big-drop.bin': { dropAfterBytes: 5 * MiB },
      '/big-resume.bin': { throttleBytesPerSec: 12 * MiB },
      '/big-solo-stop.bin': { throttleBytesPerSec: 12 * MiB },
      '/pool.bin': { throttleBytesPerSec: 1 * MiB },
      '/drop.bin': { dropAfterBytes: 300_000 },
      '/forbidden.bin': { failFirst: 1, failStatus: 403 },
      '/flaky.bin': { failFirst: 2, failStatus: 503 },
      '/lying.bin': { wrongContentLength: true },
      '/cancel.bin': { throttleBytesPerSec: 1 * MiB },
      '/crash.bin': { throttleBytesPerSec: 2 * MiB },
      '/late.bin': { delayMs: 5_000 },
    },
  });
  client = new HttpClient();
});

afterAll(async () => {
  await server?.stop();
  await client?.close();
  await rm(dir, { recursive: true, force: true });
  await rm(out, { recursive: true, force: true });
});

const fast: Partial<HttpDownloadOptions> = { backoffBaseMs: 10, backoffMaxMs: 50 };
const opts = (extra: Partial<HttpDownloadOptions> = {}): HttpDownloadOptions => ({ client, ...fast, ...extra });
const dest = (name: string): string => path.join(out, name);
const entries = (p: string, from = 0): RequestRecord[] => server.log.slice(from).filter((r) => r.path === p);

async function rejection(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

function parseRange(range: string | undefined): { start: number; end: number | null } {
  const m = /^bytes=(\d+)-(\d*)$/.exec(range ?? '');
  if (!m) throw new Error(`unexpected range ${range}`);
  return { start: Number(m[1]), end: m[2] === '' ? null : Number(m[2]) };
}

describe('downloadHttp: single stream', () => {
  it('downloads a progressive file byte-identical and cleans up', async () => {
    const target = dest('clip.mp4');
    const res = await downloadHttp(`${server.url}/${mp4Name}`, target, opts({ sha256: true }));
    expect(res).toEqual({ path: target, size: mp4.length, sha256: sha(mp4), resumed: false, chunks: 1 });
    expect(sha(await readFile(target))).toBe(sha(mp4));
    expect(existsSync(`${target}.part`)).toBe(false);
    expect(existsSync(`${target}.part.json`)).toBe(false);
  });

  it('resumes with Range after the server drops the connection mid-file', async () => {
    const target = dest('drop.bin');
    const res = await downloadHttp(`${server.url}/drop.bin`, target, opts());
    expect(sha(await readFile(target))).toBe(sha(small));
    expect(res.size).toBe(small.length);
    const seen = entries('/drop.bin');
    expect(seen).toHaveLength(2);
    expect(seen[0]!.range).toBe('bytes=0-');
    const resumedAt = parseRange(seen[1]!.range).start;
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(300_000);
    expect(seen[1]!.status).toBe(206);
  });

  it('surfaces 403 as forbidden without retrying; the next call succeeds', async () => {
    const target = dest('forbidden.bin');
    const err = await rejection(downloadHttp(`${server.url}/forbidden.bin`, target, opts()));
    expect(err.details).toMatchObject({ status: 403, reason: 'forbidden' });
    expect(server.requests.get('/forbidden.bin')).toBe(1);
    expect(existsSync(target)).toBe(false);

    await downloadHttp(`${server.url}/forbidden.bin`, target, opts());
    expect(sha(await readFile(target))).toBe(sha(small));
    expect(server.requests.get('/forbidden.bin')).toBe(2);
  });

  it('retries 503 transparently', async () => {
    const target = dest('flaky.bin');
    const res = await downloadHttp(`${server.url}/flaky.bin`, target, opts());
    expect(res.size).toBe(small.length);
    expect(sha(await readFile(target))).toBe(sha(small));
    expect(entries('/flaky.bin').map((r) => r.status)).toEqual([503, 503, 206]);
  });

  it('gives up on 5xx after the configured tries with upstream_error', async () => {
    server.setBehavior('/flaky.bin', { failFirst: 10, failStatus: 502 });
    try {
      const err = await rejection(downloadHttp(`${server.url}/flaky.bin`, dest('flaky-2.bin'), opts({ tries: 3 })));
      expect(err.code).toBe('upstream_error');
      expect(err.details).toMatchObject({ status: 502, reason: 'http_status', tries: 3 });
    } finally {
      server.setBehavior('/flaky.bin', undefined);
    }
  });

  it('downloads an empty file', async () => {
    const res = await downloadHttp(`${server.url}/empty.bin`, dest('empty.bin'), opts());
    expect(res).toMatchObject({ size: 0, resumed: false });
    expect((await stat(dest('empty.bin'))).size).toBe(0);
  });

  it('maps 404 to not_found', async () => {
    const err = await rejection(downloadHttp(`${server.url}/notfound-not-written.bin`, dest('nf.bin'), opts()));
    expect(err.code).toBe('not_found');
    expect(err.details).toMatchObject({ status: 404 });
  });

  it('fails with size_mismatch when the server announces more than it sends', async () => {
    const target = dest('lying.bin');
    const err = await rejection(downloadHttp(`${server.url}/lying.bin`, target, opts()));
    expect(err.code).toBe('upstream_error');
    expect(err.details).toMatchObject({ reason: 'size_mismatch', expected: small.length + 1000, got: small.length });
    expect(existsSync(target)).toBe(false);
  });

  it('times out when no byte arrives for idleTimeoutMs', async () => {
    const started = Date.now();
    const err = await rejection(
      downloadHttp(`${server.url}/late.bin`, dest('late.bin'), opts({ idleTimeoutMs: 200, tries: 2 })),
    );
    expect(err.details).toMatchObject({ reason: 'timeout' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('applies the SSRF guard when asked', async () => {
    const before = server.log.length;
    const err = await rejection(downloadHttp(`${server.url}/drop.bin`, dest('guarded.bin'), opts({ guard: true })));
    expect(err.code).toBe('invalid_url');
    expect(server.log.length).toBe(before);

    const allowed = new HttpClient({ allowPrivateAddresses: true });
    try {
      const res = await downloadHttp(
        `${server.url}/${mp4Name}`,
        dest('guarded.mp4'),
        opts({ client: allowed, guard: true }),
      );
      expect(res.size).toBe(mp4.length);
    } finally {
      await allowed.close();
    }
  });

  it('cancels promptly on abort and keeps the .part', async () => {
    const target = dest('cancel.bin');
    const ctl = new AbortController();
    let abortedAt = 0;
    const onProgress = (p: DownloadProgress): void => {
      if (p.bytesDone > 0 && !ctl.signal.aborted) {
        abortedAt = Date.now();
        ctl.abort();
      }
    };
    const err = await downloadHttp(`${server.url}/cancel.bin`, target, opts({ signal: ctl.signal, onProgress })).then(
      () => null,
      (e: unknown) => e as Error,
    );
    const abortToReject = Date.now() - abortedAt;
    expect(abortedAt).toBeGreaterThan(0);
    expect(err?.name).toBe('AbortError');
    expect(abortToReject).toBeLessThan(1_000);
    const part = await stat(`${target}.part`);
    expect(part.size).toBeGreaterThan(0);
    expect(part.size).toBeLessThan(medium.length);
    expect(existsSync(target)).toBe(false);
  });

  it('resumes after a crash, requesting only the remaining bytes', async () => {
    const target = dest('crash.bin');
    const ctl = new AbortController();
    const onProgress = (p: DownloadProgress): void => {
      if (p.bytesDone >= 256 * 1024) ctl.abort();
    };
    await expect(
      downloadHttp(`${server.url}/crash.bin`, target, opts({ signal: ctl.signal, onProgress })),
    ).rejects.toThrow();
    const have = (await stat(`${target}.part`)).size;
    expect(have).toBeGreaterThan(0);
    const side = JSON.parse(await readFile(`${target}.part.json`, 'utf8')) as PartSidecar;
    expect(side.total).toBe(medium.length);

    server.setBehavior('/crash.bin', undefined);
    const mark = server.log.length;
    const res = await downloadHttp(`${server.url}/crash.bin`, target, opts());
    expect(res.resumed).toBe(true);
    expect(sha(await readFile(target))).toBe(sha(medium));
    const again = entries('/crash.bin', mark);
    expect(again.map((r) => r.range)).toEqual([`bytes=${have}-`]);
    expect(again[0]!.status).toBe(206);
  });
});

describe('downloadHttp: chunked', () => {
  it('fetches large files with parallel ranged requests; progress is throttled, monotonic and ends at total', async () => {
    const target = dest('big.bin');
    const progress: Array<DownloadProgress & { at: number }> = [];
    let maxInFlight = 0;
    const poll = setInterval(() => {
      const n = server.log.filter((r) => r.path === '/big.bin' && r.range && r.status === 0).length;
      maxInFlight = Math.max(maxInFlight, n);
    }, 5);
    let res;
    try {
      res = await downloadHttp(
        `${server.url}/big.bin`,
        target,
        opts({ sha256: true, onProgress: (p) => progress.push({ ...p, at: performance.now() }) }),
      );
    } finally {
      clearInterval(poll);
    }
    expect(res.chunks).toBe(3);
    expect(res.sha256).toBe(sha(big));
    expect(sha(await readFile(target))).toBe(sha(big));
    expect(maxInFlight).toBeGreaterThan(1);
    const ranges = entries('/big.bin').map((r) => r.range);
    expect(ranges).toContain('bytes=0-');
    expect(ranges).toContain(`bytes=${8 * MiB}-${16 * MiB - 1}`);
    expect(ranges).toContain(`bytes=${16 * MiB}-${24 * MiB - 1}`);

    expect(progress.length).toBeGreaterThan(1);
    for (let i = 1; i < progress.length; i++) {
      expect(progress[i]!.bytesDone).toBeGreaterThanOrEqual(progress[i - 1]!.bytesDone);
      // at most every 250 ms (the final report may come sooner)
      if (i < progress.length - 1) expect(progress[i]!.at - progress[i - 1]!.at).toBeGreaterThanOrEqual(240);
    }
    const last = progress.at(-1)!;
    expect(last).toMatchObject({ bytesDone: big.length, bytesTotal: big.length, etaSeconds: 0 });
    expect(progress.some((p) => p.speedBps > 0)).toBe(true);
  });

  it('downloads running at once share one pool of extra connections, given back when they finish', async () => {
    const chunky = opts({ chunkSize: 256 * 1024, chunkThreshold: 1024 * 1024, connections: 4 });
    // Closed ranges only: the first request (`bytes=0-`) is let go at its chunk's end, and the server may
    // notice a moment after the next request is out.
    const inFlight = () =>
      server.log.filter((r) => r.path === '/pool.bin' && /^bytes=\d+-\d+$/.test(r.range ?? '') && r.status === 0)
        .length;
    const watch = () => {
      let max = 0;
      const timer = setInterval(() => (max = Math.max(max, inFlight())), 5);
      return () => (clearInterval(timer), max);
    };
    const n = 5;
    let stop = watch();
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => downloadHttp(`${server.url}/pool.bin`, dest(`pool-${i}.bin`), chunky)),
    );
    const together = stop();
    for (const [i, r] of results.entries()) {
      expect(r.chunks).toBe(8);
      expect(sha(await readFile(dest(`pool-${i}.bin`)))).toBe(sha(medium));
    }
    // Each download's own connection plus the shared extras: never 4 each.
    expect(together).toBeGreaterThan(n);
    expect(together).toBeLessThanOrEqual(n + EXTRA_CONNECTIONS);

    stop = watch();
    await downloadHttp(`${server.url}/pool.bin`, dest('pool-alone.bin'), chunky);
    expect(stop()).toBe(4);
  });

  it('retries a dropped chunk from the bytes it already wrote', async () => {
    const target = dest('big-drop.bin');
    const res = await downloadHttp(`${server.url}/big-drop.bin`, target, opts());
    expect(sha(await readFile(target))).toBe(sha(big));
    expect(res.chunks).toBe(3);
    const chunk0 = entries('/big-drop.bin')
      .map((r) => parseRange(r.range))
      .filter((r) => r.start > 0 && r.start < 8 * MiB);
    expect(chunk0).toHaveLength(1);
    expect(chunk0[0]!.end).toBe(8 * MiB - 1);
    expect(chunk0[0]!.start).toBeGreaterThan(4 * MiB);
  });

  it('after an abort, a restart fetches only the missing chunk bytes', async () => {
    const chunkSize = 4 * MiB;
    // past the first two chunks, far from the end
    const done = await abortAndResume('big-resume.bin', { chunkSize, connections: 2 }, 10 * MiB);
    expect(done).toHaveLength(6);
    const complete = done.map((n) => n === chunkSize);
    expect(complete.some(Boolean)).toBe(true);
    expect(complete.every(Boolean)).toBe(false);
  });

  it('on a fast link one response carries every chunk, and the chunk map follows it', async () => {
    const target = dest('big-solo.bin');
    const progress: DownloadProgress[] = [];
    // Solo while each 8 MiB chunk takes < 8 s: any loopback, however busy the machine.
    const res = await downloadHttp(
      `${server.url}/big-solo.bin`,
      target,
      opts({ soloMinBps: 1 * MiB, sha256: true, onProgress: (p) => progress.push(p) }),
    );
    expect(res).toMatchObject({ size: big.length, chunks: 3, resumed: false, sha256: sha(big) });
    expect(entries('/big-solo.bin').map((r) => r.range)).toEqual(['bytes=0-']);
    expect(existsSync(`${target}.part.json`)).toBe(false);
    expect(progress.at(-1)).toMatchObject({ bytesDone: big.length, bytesTotal: big.length });
  });

  it('a solo run stopped midway keeps the chunks it wrote: the resume asks only for the rest', async () => {
    const done = await abortAndResume('big-solo-stop.bin', { soloMinBps: 1 * MiB }, 10 * MiB, (before, onDisk) => {
      // The first run was one response, past its first chunk ...
      expect(before.map((r) => r.range)).toEqual(['bytes=0-']);
      // ... whose map on disk, as a kill -9 would have left it, already counted chunk 0's bytes.
      expect(onDisk?.[0]).toBeGreaterThan(0);
    });
    expect(done[0]).toBe(8 * MiB);
    expect(done[1]).toBeGreaterThan(0);
    expect(done[1]).toBeLessThan(8 * MiB);
    expect(done[2]).toBe(0);
  });

  it('a solo run that slows down brings in the parallel connections and ends at its chunk', async () => {
    const rec = await recordingServer(big, '"solo"');
    // 3 chunks at once, then 1 MiB/s: chunk 3 overruns its 250 ms
    rec.slowTail = { after: 3 * MiB, bytesPerSec: 1 * MiB };
    try {
      const chunky = { chunkSize: 1 * MiB, chunkThreshold: 4 * MiB, connections: 4, soloMinBps: 4 * MiB };
      const res = await downloadHttp(`${rec.url}/x.bin`, dest('solo-slow.bin'), opts(chunky));
      expect(res).toMatchObject({ size: big.length, chunks: 24 });
      expect(sha(await readFile(dest('solo-slow.bin')))).toBe(sha(big));
      const ranges = rec.seen.map((h) => h.range);
      // The solo response delivered chunks 0-3 (it had claimed 3 before it slowed down); every other
      // chunk came as its own closed range, each once.
      expect(ranges[0]).toBe('bytes=0-');
      const closed = ranges.slice(1).map((r) => parseRange(r));
      expect(closed.map((r) => r.start / MiB).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 20 }, (_, i) => i + 4),
      );
      for (const r of closed) expect(r.end).toBe(r.start + MiB - 1);
    } finally {
      await rec.close();
    }
  });
});

describe('copyBodyToFile', () => {
  it('writes what a body holds after it broke before the copy began, through an extended limit', async () => {
    const data = randomBytes(300_000);
    const body = new Readable({ read: () => undefined });
    body.push(data.subarray(0, 100_000));
    body.push(data.subarray(100_000));
    body.on('error', () => undefined).destroy(new Error('connection reset'));
    await new Promise(setImmediate);
    let grants = 0;
    const copy = await copyBodyToFile(body, createWriteStream(dest('copy-broken.bin')), {
      limit: 150_000,
      extend: () => (++grants === 1 ? 100_000 : 0),
    });
    expect(copy).toMatchObject({ written: 250_000, bodyError: { message: 'connection reset' } });
    expect((await readFile(dest('copy-broken.bin'))).equals(data.subarray(0, 250_000))).toBe(true);
  });

  it('cuts a body that runs past its limit; one that ends right at it is read to its end', async () => {
    const data = randomBytes(3 * 64);
    const pieces = () => Readable.from([data.subarray(0, 64), data.subarray(64, 128), data.subarray(128)]);
    const long = pieces();
    const cut = await copyBodyToFile(long, createWriteStream(dest('copy-cut.bin')), { limit: 100 });
    expect(cut).toEqual({ written: 100, bodyError: null });
    expect(long.readableEnded).toBe(false);
    expect((await readFile(dest('copy-cut.bin'))).equals(data.subarray(0, 100))).toBe(true);

    const exact = pieces();
    const whole = await copyBodyToFile(exact, createWriteStream(dest('copy-exact.bin')), { limit: data.length });
    expect(whole).toEqual({ written: data.length, bodyError: null });
    expect(exact.readableEnded).toBe(true);
  });
});

/**
 * Aborts a chunked download of `name` once `abortAt` bytes are done, checks the chunk map it left
 * (`before` sees the requests of that run, and the map on disk just before the abort), then resumes
 * it with another chunk size (the map's wins): the resume must ask for exactly the bytes the map
 * lacks, each chunk from where it stopped. Returns the map's bytes per chunk.
 */
async function abortAndResume(
  name: string,
  first: Partial<HttpDownloadOptions>,
  abortAt: number,
  before?: (requests: RequestRecord[], onDisk: number[] | null) => void,
): Promise<number[]> {
  const target = dest(name);
  const ctl = new AbortController();
  let abortedAt = 0;
  let onDisk: number[] | null = null;
  const onProgress = (p: DownloadProgress): void => {
    if (p.bytesDone >= abortAt && !ctl.signal.aborted) {
      onDisk = (JSON.parse(readFileSync(`${target}.part.json`, 'utf8')) as PartSidecar).chunks;
      abortedAt = Date.now();
      ctl.abort();
    }
  };
  const start = server.log.length;
  await expect(
    downloadHttp(`${server.url}/${name}`, target, opts({ ...first, signal: ctl.signal, onProgress })),
  ).rejects.toThrow();
  expect(Date.now() - abortedAt).toBeLessThan(1_000);
  before?.(entries(`/${name}`, start), onDisk);

  const side = JSON.parse(await readFile(`${target}.part.json`, 'utf8')) as PartSidecar;
  const chunkSize = first.chunkSize ?? 8 * MiB;
  expect(side.total).toBe(big.length);
  expect(side.chunkSize).toBe(chunkSize);
  const done = side.chunks!;
  expect((await stat(`${target}.part`)).size).toBe(big.length);

  server.setBehavior(`/${name}`, undefined);
  const mark = server.log.length;
  const res = await downloadHttp(`${server.url}/${name}`, target, opts({ chunkSize: 1 * MiB }));
  expect(res).toMatchObject({ resumed: true, chunks: done.length, size: big.length });
  expect(sha(await readFile(target))).toBe(sha(big));

  let requested = 0;
  for (const r of entries(`/${name}`, mark).map((e) => parseRange(e.range))) {
    const end = r.end!;
    requested += end - r.start + 1;
    const i = Math.floor(r.start / chunkSize);
    expect(done[i]).toBeLessThan(chunkLength(i, chunkSize));
    expect(r.start).toBe(i * chunkSize + done[i]!); // exactly where the chunk stopped
    expect(end).toBe(Math.min(big.length, (i + 1) * chunkSize) - 1);
  }
  expect(requested).toBe(big.length - done.reduce((a, b) => a + b, 0));
  return done;
}

const chunkLength = (i: number, chunkSize: number): number => Math.min(chunkSize, big.length - i * chunkSize);

/** A recording server with ETag/If-Range support, for header and identity checks. */
interface RecordingServer {
  url: string;
  seen: http.IncomingHttpHeaders[];
  body: Buffer;
  etag: string;
  /** Cut the next N responses after this many bytes. */
  dropAfter: number | null;
  drops: number;
  /** false: ignore Range and always answer 200 */
  ranges: boolean;
  /** Open-ended requests (`bytes=N-`, none): this many bytes at once, then the rest trickles. */
  slowTail: { after: number; bytesPerSec: number } | null;
  close(): Promise<void>;
}

async function recordingServer(body: Buffer, etag: string): Promise<RecordingServer> {
  const state: Omit<RecordingServer, 'url' | 'close'> = {
    seen: [],
    body,
    etag,
    dropAfter: null,
    drops: 0,
    ranges: true,
    slowTail: null,
  };
  const timers = new Set<NodeJS.Timeout>();
  const srv = http.createServer((req, res) => {
    state.seen.push(req.headers);
    const data = state.body;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    const useRange =
      state.ranges && m !== null && (ifRange === undefined || ifRange === state.etag) && Number(m[1]) < data.length;
    const start = useRange ? Number(m[1]) : 0;
    const end = useRange && m[2] ? Math.min(Number(m[2]), data.length - 1) : data.length - 1;
    res.setHeader('ETag', state.etag);
    if (state.ranges) res.setHeader('Accept-Ranges', 'bytes');
    if (useRange) {
      res.statusCode = 206;
      res.setHeader('Content-Range', `bytes ${start}-${end}/${data.length}`);
    }
    res.setHeader('Content-Length', end - start + 1);
    const slice = data.subarray(start, end + 1);
    if (state.dropAfter !== null && state.drops > 0) {
      state.drops--;
      res.write(slice.subarray(0, state.dropAfter), () => res.destroy());
      return;
    }
    const tail = state.slowTail;
    if (tail && !(m && m[2])) {
      res.write(slice.subarray(0, tail.after));
      const step = Math.ceil(tail.bytesPerSec / 20);
      const trickle = (at: number): void => {
        if (res.destroyed) return;
        if (at >= slice.length) return void res.end();
        res.write(slice.subarray(at, at + step));
        const t = setTimeout(() => (timers.delete(t), trickle(at + step)), 50);
        timers.add(t);
      };
      trickle(tail.after);
      return;
    }
    res.end(slice);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as AddressInfo).port;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        srv.close(() => resolve());
        srv.closeAllConnections();
      }),
  });
}

describe('downloadHttp: headers and object identity', () => {
  it("sends the format's headers on every request, identity encoding, and If-Range on resume", async () => {
    const rec = await recordingServer(small, '"v1"');
    rec.dropAfter = 200_000;
    rec.drops = 1;
    try {
      const headers = { Referer: 'https://www.example.com/watch', Cookie: 'a=b', 'User-Agent': 'ytbh-test/1' };
      await downloadHttp(`${rec.url}/x.bin`, dest('headers.bin'), opts({ headers }));
      expect(sha(await readFile(dest('headers.bin')))).toBe(sha(small));
      expect(rec.seen).toHaveLength(2);
      for (const h of rec.seen) {
        expect(h.referer).toBe('https://www.example.com/watch');
        expect(h.cookie).toBe('a=b');
        expect(h['user-agent']).toBe('ytbh-test/1');
        expect(h['accept-encoding']).toBe('identity');
      }
      expect(rec.seen[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
      expect(rec.seen[1]!['if-range']).toBe('"v1"');
    } finally {
      await rec.close();
    }
  });

  it('without range support, a dropped transfer restarts from zero', async () => {
    const rec = await recordingServer(small, '"v1"');
    rec.ranges = false;
    rec.dropAfter = 300_000;
    rec.drops = 1;
    try {
      const res = await downloadHttp(`${rec.url}/x.bin`, dest('noranges.bin'), opts());
      expect(res).toMatchObject({ resumed: false, chunks: 1, size: small.length });
      expect(sha(await readFile(dest('noranges.bin')))).toBe(sha(small));
      expect(rec.seen).toHaveLength(2);
    } finally {
      await rec.close();
    }
  });

  it('does not chunk when the server ignores Range, whatever the size', async () => {
    const rec = await recordingServer(big, '"big"');
    rec.ranges = false;
    try {
      const res = await downloadHttp(`${rec.url}/x.bin`, dest('big-noranges.bin'), opts());
      expect(res.chunks).toBe(1);
      expect(sha(await readFile(dest('big-noranges.bin')))).toBe(sha(big));
      expect(rec.seen).toHaveLength(1);
    } finally {
      await rec.close();
    }
  });

  it('chunked resume: a changed ETag (If-Range → 200) discards the chunk map and starts over', async () => {
    const v2 = randomBytes(20 * MiB);
    const rec = await recordingServer(v2, '"v2"');
    const target = dest('chunk-changed.bin');
    const chunkSize = 4 * MiB;
    // What a cancelled download of v1 left behind: its first chunk, and a map saying so.
    const stale = Buffer.alloc(big.length);
    big.copy(stale, 0, 0, chunkSize);
    await writeFile(`${target}.part`, stale);
    const side: PartSidecar = {
      version: 1,
      total: big.length,
      etag: '"v1"',
      lastModified: null,
      chunkSize,
      chunks: [chunkSize, 0, 0, 0, 0, 0],
    };
    await writeFile(`${target}.part.json`, JSON.stringify(side));
    try {
      const res = await downloadHttp(`${rec.url}/x.bin`, target, opts());
      expect(res).toMatchObject({ resumed: false, size: v2.length, chunks: 3 });
      expect(sha(await readFile(target))).toBe(sha(v2));
      // one validating request, not one per connection
      expect(rec.seen.filter((h) => h['if-range'] === '"v1"')).toHaveLength(1);
      expect(rec.seen[0]!['if-range']).toBe('"v1"');
      expect(rec.seen.some((h) => h.range === 'bytes=0-' && h['if-range'] === undefined)).toBe(true);
    } finally {
      await rec.close();
    }
  });

  it('starts over when the object changed since the .part was written (If-Range → 200)', async () => {
    const v1 = randomBytes(512 * 1024);
    const v2 = randomBytes(700 * 1024);
    const rec = await recordingServer(v1, '"v1"');
    const target = dest('changed.bin');
    try {
      rec.dropAfter = 100_000;
      rec.drops = 1;
      const err = await rejection(downloadHttp(`${rec.url}/x.bin`, target, opts({ tries: 1 })));
      expect(err.details).toMatchObject({ reason: 'network' });
      expect((await stat(`${target}.part`)).size).toBeGreaterThan(0);
      const side = JSON.parse(await readFile(`${target}.part.json`, 'utf8')) as PartSidecar;
      expect(side).toMatchObject({ total: v1.length, etag: '"v1"' });

      rec.body = v2;
      rec.etag = '"v2"';
      const res = await downloadHttp(`${rec.url}/y.bin`, target, opts());
      expect(res).toMatchObject({ resumed: false, size: v2.length });
      expect(sha(await readFile(target))).toBe(sha(v2));
      expect(rec.seen.at(-1)!['if-range']).toBe('"v1"');
    } finally {
      await rec.close();
    }
  });
});
