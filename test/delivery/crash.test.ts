/**
 * Crash tests: real server processes, real files, `kill -9` in the middle of
 * a transfer.
 *
 * - Embedded (PGlite + in-process queue, one `ytbh serve` process): the
 *   process is killed mid-download and started again on the same DATA_DIR;
 *   the worker re-queues the unfinished task from the database and resumes the
 *   single-stream `.part` at exactly its length.
 * - Distributed (PostgreSQL + BullMQ on Redis, separate api and worker
 *   processes): the worker is killed mid-download of a chunked (≥ 16 MiB)
 *   transfer; a second worker takes the job over once the dead one's queue
 *   lock lapses and resumes every chunk where the `.part.json` map says it
 *   stopped.
 *
 * What "correct" means here, beyond "completed":
 * - resume: after the crash the media server sees ranged requests that start
 *   exactly where the bytes on disk end, and the whole file is not fetched
 *   again;
 * - integrity: the stored file is byte-identical to a clean download of the
 *   same URL with the same options (a second, uninterrupted task), and its
 *   packets (ffmpeg streamhash of every stream) are identical to the source
 *   clip's. The stored file is an ffmpeg remux, so comparing it with the
 *   source file itself would be meaningless; the remux is deterministic,
 *   though, so any corrupted or missing byte in the resumed `.part` would
 *   show in both comparisons;
 * - nothing lost: one task, `completed`, attempts ≥ 2, the work directory gone,
 *   no job left in the queue; a restarted worker sweeps the work directories
 *   of tasks that will never run again and keeps the unfinished ones'.
 *
 * The distributed processes run test/support/serve-prefixed.ts (the `serve`
 * command plus a private Redis key prefix) with QUEUE_LOCK_MS=3000 and
 * QUEUE_STALLED_INTERVAL_MS=1000, so the takeover needs seconds, not a minute.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runFfmpeg } from '../support/media.js';
import { startMediaServer, type MediaServer, type RequestRecord } from '../support/media-server.js';
import { freePort, ROOT, spawnCli, waitForHttp, type ChildServer } from '../support/server.js';
import { fetchWith, signUpFirstAdmin } from '../support/auth.js';
import {
  createPostgresDatabase,
  redisNamespace,
  TEST_ENCRYPTION_KEY,
  TEST_JWT_SECRET,
  type TempPostgres,
  type TempRedis,
} from '../support/backends.js';
import { workDir } from '../../src/delivery/pipeline.js';
import {
  DEFAULT_CHUNK_SIZE,
  DEFAULT_CHUNK_THRESHOLD,
  type PartSidecar,
} from '../../src/delivery/downloader/http-download.js';

type Task = Record<string, any>;

const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';
const MiB = 1024 * 1024;
/**
 * Per connection, until the kill: slow enough that a busy machine still catches the transfer in
 * the middle (≈ 14 s for the single file, ≈ 16 s for the chunked one). After the kill the
 * throttle is lifted: the resumed run only has to prove what it asks for, not how fast.
 */
const RATE = 512 * 1024;

let mediaDir: string;
let media: MediaServer;
/** < 16 MiB: one stream, resumed by `Range: bytes=<.part length>-` */
let singleFile: string;
/** ≥ 16 MiB: parallel 8 MiB chunks, resumed from the sidecar's chunk map */
let chunkedFile: string;
const SINGLE = '/crash-single.mp4';
const CHUNKED = '/crash-chunked.mp4';

const tempDirs: string[] = [];
function tempDir(prefix: string): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

/** Real H.264 + AAC, lossless noise so it is big (≈ 3.7 MB/s at 320x240, ≈ 11 MB/s at 640x360) yet valid media. */
async function noisyClip(name: string, width: number, height: number, seconds: number): Promise<string> {
  const file = path.join(mediaDir, name);
  await runFfmpeg([
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=${width}x${height}:rate=25:duration=${Math.ceil(seconds)},noise=alls=60:allf=t`,
    '-f',
    'lavfi',
    '-i',
    `sine=frequency=440:sample_rate=44100:duration=${Math.ceil(seconds)}`,
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-qp', '0', '-g', '25'],
    ...['-c:a', 'aac', '-b:a', '64k', '-movflags', '+faststart', '-t', String(seconds)],
    file,
  ]);
  return file;
}

beforeAll(async () => {
  mediaDir = tempDir('ytbh-crash-media-');
  [singleFile, chunkedFile] = await Promise.all([
    noisyClip(SINGLE.slice(1), 320, 240, 2),
    noisyClip(CHUNKED.slice(1), 640, 360, 1.8),
  ]);
  // The two modes of the downloader are what the two tests are about: make sure the sizes select them.
  expect(statSync(singleFile).size).toBeGreaterThan(4 * MiB);
  expect(statSync(singleFile).size).toBeLessThan(DEFAULT_CHUNK_THRESHOLD);
  // ≈ 18.8 MiB: chunks of 8 + 8 + ≈ 2.8 MiB. The short last chunk finishes first, and finishing a
  // chunk is when the chunk map (with every chunk's bytes so far) reaches the disk.
  expect(statSync(chunkedFile).size).toBeGreaterThan(DEFAULT_CHUNK_THRESHOLD + MiB);
  expect(statSync(chunkedFile).size).toBeLessThan(DEFAULT_CHUNK_THRESHOLD + 4 * MiB);
  media = await startMediaServer(mediaDir);
});

afterAll(async () => {
  await media?.stop();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
// Processes

interface Proc {
  name: string;
  child: ChildServer;
  base: string;
}

const running = new Set<Proc>();

/** Like spawnCli, for test/support/serve-prefixed.ts (the distributed processes need a private key prefix). */
function spawnPrefixedServe(env: Record<string, string>): ChildServer {
  const proc: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'test/support/serve-prefixed.ts')],
    { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let stdout = '';
  let stderr = '';
  proc.stdout!.setEncoding('utf8');
  proc.stderr!.setEncoding('utf8');
  proc.stdout!.on('data', (d: string) => ((out += d), (stdout += d)));
  proc.stderr!.on('data', (d: string) => ((out += d), (stderr += d)));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const closed = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
  return { proc, output: () => out, stdout: () => stdout, stderr: () => stderr, exited, closed };
}

async function start(name: string, spawnIt: (port: number) => ChildServer): Promise<Proc> {
  const port = await freePort();
  const p: Proc = { name, child: spawnIt(port), base: `http://127.0.0.1:${port}` };
  running.add(p);
  const died = p.child.exited.then((code) => {
    throw new Error(`${name} exited (${code}) before it was ready:\n${p.child.output().slice(-3000)}`);
  });
  await Promise.race([waitForHttp(`${p.base}/api/v2/system/ready`, 120_000), died]);
  died.catch(() => {});
  return p;
}

async function kill9(p: Proc): Promise<void> {
  p.child.proc.kill('SIGKILL');
  await p.child.exited;
  running.delete(p);
}

/** Graceful stop (SIGTERM, exit 0 expected); SIGKILL if it hangs. */
async function stop(p: Proc): Promise<number | null> {
  running.delete(p);
  if (p.child.proc.exitCode !== null || p.child.proc.signalCode !== null) return p.child.proc.exitCode;
  p.child.proc.kill('SIGTERM');
  const timer = setTimeout(() => p.child.proc.kill('SIGKILL'), 20_000);
  try {
    return await p.child.exited;
  } finally {
    clearTimeout(timer);
  }
}

afterEach(async () => {
  adminHeaders = null;
  await Promise.all([...running].map(stop));
});

function logs(...procs: Proc[]): string {
  return procs.map((p) => `--- ${p.name}\n${p.child.output().slice(-4000)}`).join('\n');
}

// ---------------------------------------------------------------------------
// API and files

/** The deployment's admin key: signed up over HTTP on the first API call of each test (processes share the database). */
let adminHeaders: Record<string, string> | null = null;

async function authed(url: string, init: RequestInit = {}): Promise<Response> {
  adminHeaders ??= (await signUpFirstAdmin(new URL(url).origin)).headers;
  return fetchWith(adminHeaders)(url, init);
}

async function createDownload(base: string, url: string): Promise<Task> {
  const res = await authed(`${base}/api/v2/downloads`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url, options: { quality: 'best' } }),
  });
  const body = (await res.json()) as Task;
  expect(res.status, JSON.stringify(body)).toBe(202);
  return body;
}

async function getTask(base: string, id: string): Promise<Task> {
  const res = await authed(`${base}/api/v2/downloads/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Task;
}

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function waitForStatus(base: string, id: string, statuses: string[], timeoutMs: number, procs: Proc[]) {
  try {
    return await until(
      `task ${id} to become ${statuses.join('/')}`,
      async () => {
        const t = await getTask(base, id);
        if (['failed', 'cancelled'].includes(t.status) && !statuses.includes(t.status)) {
          throw new Error(`task ${id} ended ${t.status}: ${JSON.stringify(t.error)}`);
        }
        return statuses.includes(t.status) ? t : undefined;
      },
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${logs(...procs)}`);
  }
}

async function listTasks(base: string): Promise<Task[]> {
  const res = await authed(`${base}/api/v2/downloads?limit=100`);
  return ((await res.json()) as { items: Task[] }).items;
}

async function storedBytes(base: string, id: string): Promise<Buffer> {
  const res = await authed(`${base}/api/v2/downloads/${id}/file`);
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** sha256 of every stream's packet data (container framing and metadata excluded), by stream type. */
async function packetHashes(file: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)(FFMPEG, [
    ...['-hide_banner', '-v', 'error', '-nostdin', '-i', file],
    ...['-map', '0:v', '-map', '0:a', '-c', 'copy', '-f', 'streamhash', '-hash', 'sha256', '-'],
  ]);
  // "0,v,SHA256=…" → "v,SHA256=…": the remux may renumber streams, not change their packets.
  return stdout
    .trim()
    .split('\n')
    .map((l) => l.replace(/^\d+,/, ''))
    .sort();
}

function fileIn(dir: string, suffix: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  const hit = readdirSync(dir).find((f) => f.endsWith(suffix));
  return hit && path.join(dir, hit);
}

function sizeOf(file: string | undefined): number {
  try {
    return file ? statSync(file).size : 0;
  } catch {
    return 0;
  }
}

function readSidecar(dir: string): PartSidecar | undefined {
  const file = fileIn(dir, '.part.json');
  if (!file) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PartSidecar;
  } catch {
    return undefined; // replaced under our feet (it is written by rename): read it again
  }
}

function gets(from: number, urlPath: string): RequestRecord[] {
  return media.log.slice(from).filter((r) => r.method === 'GET' && r.path === urlPath);
}

function rangeStart(r: RequestRecord): number | null {
  const m = r.range && /^bytes=(\d+)-/.exec(r.range);
  return m ? Number(m[1]) : null;
}

/** The final checks shared by both modes. */
async function expectCleanEnding(
  base: string,
  dataDir: string,
  task: Task,
  source: string,
  urlPath: string,
  procs: Proc[],
) {
  expect(task.status).toBe('completed');
  expect(task.error).toBeNull();
  expect(task.attempts).toBeGreaterThanOrEqual(2);
  expect(task.progress).toBe(100);
  expect(existsSync(workDir(dataDir, task.id))).toBe(false); // gone before the row said `completed`
  const all = await listTasks(base);
  expect(all.map((t) => t.id)).toEqual([task.id]); // the restart re-queued it, it did not add a task

  const crashed = await storedBytes(base, task.id);
  expect(crashed.length).toBe(task.file_size);

  // A clean run of the same URL and options (unthrottled) for the byte-for-byte comparison.
  const clean = await createDownload(base, `${media.url}${urlPath}`);
  expect(clean.id).not.toBe(task.id);
  const cleanDone = await waitForStatus(base, clean.id, ['completed'], 60_000, procs);
  expect(cleanDone.attempts).toBe(1);
  const reference = await storedBytes(base, clean.id);
  expect(sha256(crashed)).toBe(sha256(reference));

  const tmp = tempDir('ytbh-crash-out-');
  const out = path.join(tmp, 'stored.mp4');
  writeFileSync(out, crashed);
  expect(await packetHashes(out)).toEqual(await packetHashes(source));
}

// ---------------------------------------------------------------------------

describe('crash recovery, embedded (one process, PGlite, in-process queue)', () => {
  it(
    'kill -9 mid-download, restart on the same DATA_DIR: the task resumes the .part and completes',
    { timeout: 180_000 },
    async () => {
      const dataDir = tempDir('ytbh-crash-emb-');
      const total = statSync(singleFile).size;
      media.setBehavior(SINGLE, { throttleBytesPerSec: RATE });
      const env = (port: number) => ({
        DATA_DIR: dataDir,
        PORT: String(port),
        HOST: '127.0.0.1',
        ALLOW_PRIVATE_ADDRESSES: 'true',
      });

      const first = await start('first', (port) => spawnCli(['serve'], env(port)));
      const created = await createDownload(first.base, `${media.url}${SINGLE}`);
      const dir = workDir(dataDir, created.id);

      // Mid-transfer: the API reports progress, and a good share (not all) of the file is on disk.
      await until(
        'the download to be under way',
        async () => {
          const t = await getTask(first.base, created.id);
          const onDisk = sizeOf(fileIn(dir, '.part'));
          return t.status === 'downloading' &&
            t.bytes_done > 0 &&
            t.bytes_done < (t.bytes_total ?? 0) &&
            onDisk >= total * 0.25
            ? t
            : undefined;
        },
        60_000,
      );
      await kill9(first);
      const logMark = media.log.length;
      media.setBehavior(SINGLE, undefined);
      const partAtKill = sizeOf(fileIn(dir, '.part'));
      expect(partAtKill).toBeGreaterThan(0);
      expect(partAtKill).toBeLessThan(total);
      expect(fileIn(dir, '.part.json')).toBeDefined();
      const before = media.log.slice(0, logMark).filter((r) => r.method === 'GET' && r.path === SINGLE);

      // A leftover of a task that is gone (as a crash between `completed` and the cleanup leaves it):
      // the restarted worker sweeps it, and keeps the unfinished task's files.
      const orphan = workDir(dataDir, randomUUID());
      mkdirSync(orphan, { recursive: true });
      writeFileSync(path.join(orphan, 'part0.mp4.part'), 'stale');

      const second = await start('second', (port) => spawnCli(['serve'], env(port)));
      expect(existsSync(orphan)).toBe(false);
      const done = await waitForStatus(second.base, created.id, ['completed'], 90_000, [second]);

      // Resumed: the downloader asked for exactly the missing tail, never for the whole file again.
      // Extraction runs again in the new process (its cache was in memory) and reads the head of the
      // file too: yt-dlp without a Range, ffprobe with `bytes=0-`. So the first run made one
      // `bytes=0-` request more than the extraction (the fresh download) and the second run none.
      const after = gets(logMark, SINGLE);
      const fromZero = (rs: RequestRecord[]) => rs.filter((r) => r.range === 'bytes=0-').length;
      const resumed = after.filter((r) => (rangeStart(r) ?? 0) > 0);
      expect(resumed[0]?.range, JSON.stringify(after)).toBe(`bytes=${partAtKill}-`);
      expect(
        resumed.every((r) => rangeStart(r)! >= partAtKill),
        JSON.stringify(after),
      ).toBe(true);
      expect(fromZero(before), JSON.stringify(before)).toBeGreaterThanOrEqual(1);
      expect(fromZero(after), JSON.stringify({ before, after })).toBe(fromZero(before) - 1);

      await expectCleanEnding(second.base, dataDir, done, singleFile, SINGLE, [second]);
      expect(await stop(second)).toBe(0);
    },
  );
});

describe('crash recovery, distributed (PostgreSQL + BullMQ; api and worker processes)', () => {
  let pgdb: TempPostgres;
  let ns: TempRedis;
  beforeAll(async () => {
    pgdb = await createPostgresDatabase();
    ns = redisNamespace();
  });
  afterAll(async () => {
    await ns?.clean();
    await pgdb?.drop();
  });

  it(
    'kill -9 the worker mid-download: a second worker takes the job over after the lock lapses and resumes the chunks',
    { timeout: 180_000 },
    async () => {
      const dataDir = tempDir('ytbh-crash-dist-');
      const total = statSync(chunkedFile).size;
      media.setBehavior(CHUNKED, { throttleBytesPerSec: RATE });
      const shared = {
        DATABASE_URL: pgdb.url,
        REDIS_URL: ns.url,
        YTBH_TEST_KEY_PREFIX: ns.prefix,
        JWT_SECRET: TEST_JWT_SECRET,
        ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
        // One machine: api and workers share DATA_DIR (local storage, work directories).
        DATA_DIR: dataDir,
        HOST: '127.0.0.1',
        ALLOW_PRIVATE_ADDRESSES: 'true',
        QUEUE_LOCK_MS: '3000',
        QUEUE_STALLED_INTERVAL_MS: '1000',
      };
      const serve = (role: string) => (port: number) =>
        spawnPrefixedServe({ ...shared, ROLE: role, PORT: String(port) });

      const [api, worker1] = await Promise.all([start('api', serve('api')), start('worker1', serve('worker'))]);
      const created = await createDownload(api.base, `${media.url}${CHUNKED}`);
      const dir = workDir(dataDir, created.id);

      await until(
        'the chunked download to be under way',
        async () => {
          const t = await getTask(api.base, created.id);
          const side = readSidecar(dir);
          // The chunk map on disk (not the bytes written since) is what a resume can trust.
          const recorded = side?.chunks?.reduce((a, b) => a + b, 0) ?? 0;
          return t.status === 'downloading' &&
            t.bytes_done > 0 &&
            t.bytes_done < (t.bytes_total ?? 0) &&
            recorded > 0 &&
            recorded < total
            ? t
            : undefined;
        },
        60_000,
      );
      await kill9(worker1);
      const logMark = media.log.length;
      media.setBehavior(CHUNKED, undefined);
      const side = readSidecar(dir)!;
      expect(side.total).toBe(total);
      expect(side.chunkSize).toBe(DEFAULT_CHUNK_SIZE);
      const kept = side.chunks!.reduce((a, b) => a + b, 0);
      expect(kept).toBeGreaterThan(0);
      expect(kept).toBeLessThan(total);
      // What a resume must ask for: each unfinished chunk from where its bytes on disk end.
      const cs = side.chunkSize!;
      const missing = side.chunks!.flatMap((n, i) => {
        const end = Math.min(total, (i + 1) * cs) - 1;
        return i * cs + n <= end ? [`bytes=${i * cs + n}-${end}`] : [];
      });

      const worker2 = await start('worker2', serve('worker'));
      const done = await waitForStatus(api.base, created.id, ['completed'], 90_000, [api, worker2]);

      // The video info is cached in Redis, so the takeover extracts nothing: every request is a chunk's.
      const after = gets(logMark, CHUNKED);
      const ranges = after.map((r) => r.range);
      for (const r of missing) expect(ranges, JSON.stringify(after)).toContain(r);
      // Nothing already on disk was fetched again: no request starts inside a kept region.
      for (const r of after) {
        const s = rangeStart(r);
        expect(s, JSON.stringify(r)).not.toBeNull();
        const i = Math.floor(s! / cs);
        expect(s!, JSON.stringify(r)).toBeGreaterThanOrEqual(i * cs + side.chunks![i]!);
      }
      // Mid-chunk resume (not just whole chunks): at least one request starts past a chunk boundary.
      expect(
        after.some((r) => rangeStart(r)! % cs !== 0),
        JSON.stringify(after),
      ).toBe(true);

      // The queue agrees: two runs of the task, no job left anywhere.
      const redis = new Redis(ns.url);
      const queue = new Queue('downloads', { connection: redis, prefix: `${ns.prefix}ytbh` });
      try {
        expect(await redis.get(`${ns.prefix}ytbh:ytbh:downloads:attempt:${created.id}`)).toBe(String(done.attempts));
        const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'failed', 'prioritized');
        expect(
          Object.values(counts).every((n) => n === 0),
          JSON.stringify(counts),
        ).toBe(true);
      } finally {
        await queue.close();
        await redis.quit();
      }

      await expectCleanEnding(api.base, dataDir, done, chunkedFile, CHUNKED, [api, worker2]);
      expect(await stop(worker2)).toBe(0);
      expect(await stop(api)).toBe(0);
    },
  );
});
