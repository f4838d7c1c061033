/**
 * The HLS downloader against ffmpeg-made playlists served on 127.0.0.1:
 * media and master playlists, parallel and retried segments, AES-128 (the
 * test encrypts the segments itself), resume from a half-filled work dir.
 */
import { spawn } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors/app-error.js';
import { type HlsDownloadOptions, type HlsProgress, downloadHls } from '../../src/delivery/downloader/hls.js';
import { HttpClient, type StreamOptions, type StreamResponse } from '../../src/infra/http-client/http-client.js';
import { makeHls, runFfmpeg } from '../support/media.js';
import { type MediaServer, startMediaServer } from '../support/media-server.js';

const SEGMENTS = 6;
const segName = (i: number): string => `seg${String(i).padStart(3, '0')}.ts`;
const sha = (buf: Buffer): string => createHash('sha256').update(buf).digest('hex');

/** Counts concurrent segment requests (stream(): they resolve at response headers). */
class CountingClient extends HttpClient {
  inflight = 0;
  max = 0;
  override async stream(target: string | URL, opts?: StreamOptions): Promise<StreamResponse> {
    this.inflight++;
    this.max = Math.max(this.max, this.inflight);
    try {
      return await super.stream(target, opts);
    } finally {
      this.inflight--;
    }
  }
}

let dir: string;
let out: string;
let server: MediaServer;
let client: HttpClient;
let hiDir: string;
let loDir: string;
let hiPlain: Buffer;
let loPlain: Buffer;

async function concat(sub: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let i = 0; i < SEGMENTS; i++) parts.push(await readFile(path.join(dir, sub, segName(i))));
  return Buffer.concat(parts);
}

function encrypt(data: Buffer, key: Buffer, iv: Buffer): Buffer {
  const c = createCipheriv('aes-128-cbc', key, iv);
  return Buffer.concat([c.update(data), c.final()]);
}

function sequenceIv(n: number): Buffer {
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(n, 12);
  return iv;
}

function ffprobeDuration(file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.env.FFPROBE_PATH ?? 'ffprobe',
      ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', file],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(Number(stdout.trim())) : reject(new Error(`ffprobe ${code}: ${stderr}`)),
    );
  });
}

/** A copy of the hi playlist under `sub/`, optionally with a behaviour on every segment. */
async function copyPlaylist(sub: string): Promise<void> {
  await cp(path.join(dir, hiDir), path.join(dir, sub), { recursive: true });
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ytbh-hls-src-'));
  out = await mkdtemp(path.join(os.tmpdir(), 'ytbh-hls-out-'));
  const [hi, lo] = await Promise.all([
    makeHls(dir, { durationS: SEGMENTS, width: 320, height: 240 }),
    makeHls(dir, { durationS: SEGMENTS, width: 160, height: 120 }),
  ]);
  hiDir = path.dirname(hi.name);
  loDir = path.dirname(lo.name);
  hiPlain = await concat(hiDir);
  loPlain = await concat(loDir);

  await writeFile(
    path.join(dir, 'master.m3u8'),
    [
      '#EXTM3U',
      '#EXT-X-STREAM-INF:BANDWIDTH=300000,RESOLUTION=160x120,CODECS="avc1.42c00d,mp4a.40.2"',
      `${loDir}/index.m3u8`,
      '#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=320x240,CODECS="avc1.42c00d,mp4a.40.2"',
      `${hiDir}/index.m3u8`,
      '',
    ].join('\n'),
  );

  // AES-128: the first half with IVs from the media sequence (starting at 7), the rest with an explicit IV and another key.
  const enc = path.join(dir, 'enc');
  await mkdir(enc);
  const key1 = randomBytes(16);
  const key2 = randomBytes(16);
  const explicitIv = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
  await writeFile(path.join(enc, 'key1.bin'), key1);
  await writeFile(path.join(enc, 'key2.bin'), key2);
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:1', '#EXT-X-MEDIA-SEQUENCE:7'];
  lines.push('#EXT-X-KEY:METHOD=AES-128,URI="key1.bin"');
  for (let i = 0; i < SEGMENTS; i++) {
    const plain = await readFile(path.join(dir, hiDir, segName(i)));
    if (i === 3) lines.push(`#EXT-X-KEY:METHOD=AES-128,URI="key2.bin",IV=0x${explicitIv.toString('hex')}`);
    const cipher = i < 3 ? encrypt(plain, key1, sequenceIv(7 + i)) : encrypt(plain, key2, explicitIv);
    await writeFile(path.join(enc, segName(i)), cipher);
    lines.push('#EXTINF:1.000000,', segName(i));
  }
  lines.push('#EXT-X-ENDLIST', '');
  await writeFile(path.join(enc, 'index.m3u8'), lines.join('\n'));

  const hiPlaylist = await readFile(path.join(dir, hiDir, 'index.m3u8'), 'utf8');
  await mkdir(path.join(dir, 'drm'));
  await writeFile(
    path.join(dir, 'drm', 'index.m3u8'),
    hiPlaylist.replace(
      '#EXT-X-PLAYLIST-TYPE:VOD',
      '#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://x"',
    ),
  );
  await mkdir(path.join(dir, 'live'));
  await writeFile(path.join(dir, 'live', 'index.m3u8'), hiPlaylist.replace('#EXT-X-ENDLIST', ''));

  // One file, segments addressed with EXT-X-BYTERANGE (the second range continues the first without an offset).
  await mkdir(path.join(dir, 'ranges'));
  await writeFile(path.join(dir, 'ranges', 'all.ts'), hiPlain);
  const rangeLines = ['#EXTM3U', '#EXT-X-VERSION:4', '#EXT-X-TARGETDURATION:1', '#EXT-X-PLAYLIST-TYPE:VOD'];
  let offset = 0;
  for (let i = 0; i < SEGMENTS; i++) {
    const len = (await readFile(path.join(dir, hiDir, segName(i)))).length;
    rangeLines.push(
      '#EXTINF:1.000000,',
      i === 1 ? `#EXT-X-BYTERANGE:${len}` : `#EXT-X-BYTERANGE:${len}@${offset}`,
      'all.ts',
    );
    offset += len;
  }
  rangeLines.push('#EXT-X-ENDLIST', '');
  await writeFile(path.join(dir, 'ranges', 'index.m3u8'), rangeLines.join('\n'));

  // fMP4 segments with an EXT-X-MAP init section.
  await mkdir(path.join(dir, 'fmp4'));
  await runFfmpeg([
    ...['-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=25:duration=3'],
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', '25'],
    ...['-force_key_frames', 'expr:gte(t,n_forced*1)', '-t', '3', '-f', 'hls', '-hls_time', '1'],
    ...['-hls_playlist_type', 'vod', '-hls_segment_type', 'fmp4', '-hls_fmp4_init_filename', 'init.mp4'],
    ...['-hls_segment_filename', path.join(dir, 'fmp4', 'f%03d.m4s'), path.join(dir, 'fmp4', 'index.m3u8')],
  ]);

  await copyPlaylist('slow');
  await copyPlaylist('resume');
  await copyPlaylist('forbidden');
  const paths: Record<string, { delayMs?: number; failFirst?: number; failStatus?: number }> = {};
  for (let i = 0; i < SEGMENTS; i++) {
    paths[`/slow/${segName(i)}`] = { delayMs: 150 };
    paths[`/resume/${segName(i)}`] = { delayMs: 300 };
  }
  paths[`/forbidden/${segName(4)}`] = { failFirst: 1, failStatus: 403 };
  server = await startMediaServer(dir, { paths });
  client = new HttpClient();
});

afterAll(async () => {
  await server?.stop();
  await client?.close();
  await rm(dir, { recursive: true, force: true });
  await rm(out, { recursive: true, force: true });
});

const opts = (extra: Partial<HlsDownloadOptions> = {}): HlsDownloadOptions => ({
  client,
  backoffBaseMs: 10,
  backoffMaxMs: 50,
  ...extra,
});

async function rejection(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

describe('downloadHls', () => {
  it('downloads a media playlist into one .ts with the expected duration', async () => {
    const target = path.join(out, 'hi.ts');
    const progress: HlsProgress[] = [];
    const res = await downloadHls(
      `${server.url}/${hiDir}/index.m3u8`,
      target,
      opts({ onProgress: (p) => progress.push(p) }),
    );
    expect(res).toMatchObject({
      path: target,
      size: hiPlain.length,
      segments: SEGMENTS,
      resumed: false,
      container: 'ts',
    });
    expect(res.durationS).toBeCloseTo(SEGMENTS, 1);
    expect(sha(await readFile(target))).toBe(sha(hiPlain));
    expect(existsSync(`${target}.hls`)).toBe(false);
    expect(existsSync(`${target}.part`)).toBe(false);
    const duration = await ffprobeDuration(target);
    expect(duration).toBeGreaterThan(SEGMENTS - 0.5);
    expect(duration).toBeLessThan(SEGMENTS + 0.5);
    const last = progress.at(-1)!;
    expect(last).toMatchObject({ segmentsDone: SEGMENTS, segmentsTotal: SEGMENTS });
    expect(last.bytesDone).toBe(last.bytesTotal);
  });

  it('picks the highest-bandwidth variant of a master playlist, or the one asked for', async () => {
    const best = await downloadHls(`${server.url}/master.m3u8`, path.join(out, 'master-best.ts'), opts());
    expect(best.variant).toMatchObject({ bandwidth: 900000, resolution: { width: 320, height: 240 } });
    expect(best.playlistUrl).toBe(`${server.url}/${hiDir}/index.m3u8`);
    expect(sha(await readFile(best.path))).toBe(sha(hiPlain));

    const chosen = await downloadHls(
      `${server.url}/master.m3u8`,
      path.join(out, 'master-lo.ts'),
      opts({ variantUrl: `${loDir}/index.m3u8` }),
    );
    expect(chosen.variant?.bandwidth).toBe(300000);
    expect(sha(await readFile(chosen.path))).toBe(sha(loPlain));
  });

  it('fetches segments in parallel', async () => {
    const counting = new CountingClient();
    try {
      const res = await downloadHls(
        `${server.url}/slow/index.m3u8`,
        path.join(out, 'slow.ts'),
        opts({ client: counting, concurrency: 4 }),
      );
      expect(sha(await readFile(res.path))).toBe(sha(hiPlain));
      expect(counting.max).toBeGreaterThan(1);
      expect(counting.max).toBeLessThanOrEqual(4);
    } finally {
      await counting.close();
    }
  });

  it('retries a segment that fails once', async () => {
    const flaky = `/${loDir}/${segName(2)}`;
    server.setBehavior(flaky, { failFirst: 1, failStatus: 503 });
    const mark = server.log.length;
    const res = await downloadHls(`${server.url}/${loDir}/index.m3u8`, path.join(out, 'lo-retry.ts'), opts());
    expect(sha(await readFile(res.path))).toBe(sha(loPlain));
    const seen = server.log.slice(mark).filter((r) => r.path === flaky);
    expect(seen.map((r) => r.status)).toEqual([503, 200]);
  });

  it('surfaces a 403 segment as forbidden', async () => {
    const err = await rejection(
      downloadHls(`${server.url}/forbidden/index.m3u8`, path.join(out, 'forbidden.ts'), opts()),
    );
    expect(err.details).toMatchObject({ status: 403, reason: 'forbidden' });
    expect(server.requests.get(`/forbidden/${segName(4)}`)).toBe(1);
  });

  it('decrypts AES-128 segments (sequence-number and explicit IVs, two keys)', async () => {
    const target = path.join(out, 'enc.ts');
    const res = await downloadHls(`${server.url}/enc/index.m3u8`, target, opts());
    expect(res.size).toBe(hiPlain.length);
    expect(sha(await readFile(target))).toBe(sha(hiPlain));
    // each key fetched once
    expect(server.requests.get('/enc/key1.bin')).toBe(1);
    expect(server.requests.get('/enc/key2.bin')).toBe(1);
  });

  it('fetches EXT-X-BYTERANGE segments with ranged requests', async () => {
    const res = await downloadHls(`${server.url}/ranges/index.m3u8`, path.join(out, 'ranges.ts'), opts());
    expect(sha(await readFile(res.path))).toBe(sha(hiPlain));
    const ranged = server.log.filter((r) => r.path === '/ranges/all.ts');
    expect(ranged).toHaveLength(SEGMENTS);
    expect(ranged.every((r) => r.status === 206 && /^bytes=\d+-\d+$/.test(r.range ?? ''))).toBe(true);
  });

  it('writes the EXT-X-MAP init section before fMP4 fragments', async () => {
    const res = await downloadHls(`${server.url}/fmp4/index.m3u8`, path.join(out, 'fmp4.mp4'), opts());
    expect(res.container).toBe('fmp4');
    const parts = [await readFile(path.join(dir, 'fmp4', 'init.mp4'))];
    for (let i = 0; i < 3; i++)
      parts.push(await readFile(path.join(dir, 'fmp4', `f${String(i).padStart(3, '0')}.m4s`)));
    expect(sha(await readFile(res.path))).toBe(sha(Buffer.concat(parts)));
    const duration = await ffprobeDuration(res.path);
    expect(duration).toBeGreaterThan(2.5);
    expect(duration).toBeLessThan(3.5);
  });

  it('refuses other encryption methods and live playlists with a clear error', async () => {
    const before = server.log.length;
    const drm = await rejection(downloadHls(`${server.url}/drm/index.m3u8`, path.join(out, 'drm.ts'), opts()));
    expect(drm.code).toBe('unsupported_url');
    expect(drm.details).toMatchObject({ reason: 'unsupported_encryption', method: 'SAMPLE-AES' });
    expect(server.log.slice(before).map((r) => r.path)).toEqual(['/drm/index.m3u8']);

    const live = await rejection(downloadHls(`${server.url}/live/index.m3u8`, path.join(out, 'live.ts'), opts()));
    expect(live.details).toMatchObject({ reason: 'live_playlist' });
  });

  it('resumes: a second call skips segments completed before a cancel', async () => {
    const target = path.join(out, 'resume.ts');
    const ctl = new AbortController();
    const first = downloadHls(
      `${server.url}/resume/index.m3u8`,
      target,
      opts({
        concurrency: 1,
        signal: ctl.signal,
        onProgress: (p) => {
          if (p.segmentsDone >= 2) ctl.abort();
        },
      }),
    );
    const err = await first.then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.name).toBe('AbortError');
    const kept = (await readdir(`${target}.hls`)).filter((f) => /^seg-\d+\.ts$/.test(f));
    expect(kept.length).toBeGreaterThanOrEqual(2);
    expect(kept.length).toBeLessThan(SEGMENTS);

    for (let i = 0; i < SEGMENTS; i++) server.setBehavior(`/resume/${segName(i)}`, undefined);
    const mark = server.log.length;
    const res = await downloadHls(`${server.url}/resume/index.m3u8`, target, opts());
    expect(res).toMatchObject({ resumed: true, resumedSegments: kept.length });
    expect(sha(await readFile(target))).toBe(sha(hiPlain));
    const fetched = server.log
      .slice(mark)
      .map((r) => r.path)
      .filter((p) => p.endsWith('.ts'));
    expect(fetched).toHaveLength(SEGMENTS - kept.length);
    for (const name of kept) {
      const i = Number(/\d+/.exec(name)![0]);
      expect(fetched).not.toContain(`/resume/${segName(i)}`);
    }
  });
});
