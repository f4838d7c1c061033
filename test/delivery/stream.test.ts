/**
 * The streaming proxy end to end: the real server, a media server on
 * 127.0.0.1 for generic URLs (yt-dlp + Range relay), and the replay server for
 * platform answers, with generated media served at the recorded BiliBili CDN
 * URLs so the DASH remux runs the real ffmpeg.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHls, makeMedia, type MediaFile } from '../support/media.js';
import { startMediaServer, type MediaServer } from '../support/media-server.js';
import { startReplayServer, type ReplayServer } from '../support/replay-server.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { probeMedia } from '../../src/media/ffmpeg.js';
import { embedHtml, EMBED_CSP, normalizeQuality } from '../../src/delivery/stream-proxy.js';
import type { Format } from '../../src/extract/model.js';
import { serveFile } from '../support/serve-file.js';

const BV = 'BV1Et4y1r7Eu';
const BV_URL = `https://www.bilibili.com/video/${BV}`;
const CLIP_SLUG = 'DeliciousDelightfulPicklesWOOP';
const CLIP_URL = `https://clips.twitch.tv/${CLIP_SLUG}`;
const TT_ID = '7660566211100511518';

let mediaDir: string;
let clip: MediaFile;
let clipBytes: Buffer;
let videoOnly: MediaFile;
let audioOnly: MediaFile;
let media: MediaServer;
let replay: ReplayServer;
let server: TestServer;

const sha = (buf: Uint8Array) => createHash('sha256').update(buf).digest('hex');
const get = (p: string, init: RequestInit = {}) => server.fetch(server.url + p, { redirect: 'manual', ...init });
const enc = encodeURIComponent;

beforeAll(async () => {
  mediaDir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-stream-'));
  [clip, videoOnly, audioOnly] = await Promise.all([
    makeMedia(mediaDir, { durationS: 3, width: 320, height: 240, kind: 'muxed', container: 'mp4' }),
    makeMedia(mediaDir, { durationS: 3, width: 320, height: 240, kind: 'video', container: 'mp4' }),
    makeMedia(mediaDir, { durationS: 3, width: 320, height: 240, kind: 'audio', container: 'm4a' }),
  ]);
  clipBytes = readFileSync(clip.path);
  copyFileSync(clip.path, path.join(mediaDir, 'slow.mp4'));
  copyFileSync(clip.path, path.join(mediaDir, 'flaky.mp4'));
  media = await startMediaServer(mediaDir, { paths: { '/slow.mp4': { throttleBytesPerSec: 20_000 } } });
  replay = await startReplayServer();
  server = await startTestServer('embedded', { ALLOW_PRIVATE_ADDRESSES: 'true', YTBH_UPSTREAM_REWRITE: replay.url });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await media?.stop();
  await replay?.stop();
  if (mediaDir) rmSync(mediaDir, { recursive: true, force: true });
});

async function errorOf(res: Response, status: number, code: string) {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = JSON.parse(text) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(0);
  return body.error;
}

describe('generic URL on a media server', () => {
  const pageUrl = () => `${media.url}/${clip.name}`;
  const proxy = (extra = '') => `/api/v2/stream/proxy?url=${enc(pageUrl())}${extra}`;

  it('/api/v2/stream/url redirects straight to the media URL', async () => {
    const res = await get(`/api/v2/stream/url?url=${enc(pageUrl())}&quality=720p`);
    expect(res.status, await res.clone().text()).toBe(302);
    expect(res.headers.get('location')).toBe(pageUrl());
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('relays the whole file byte for byte', async () => {
    const res = await get(proxy());
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('content-length')).toBe(String(clipBytes.length));
    expect(res.headers.get('content-disposition')).toBeNull();
    expect(sha(Buffer.from(await res.arrayBuffer()))).toBe(sha(clipBytes));
  });

  it('passes Range through: first bytes, open-ended and suffix ranges', async () => {
    const size = clipBytes.length;
    const cases: Array<[string, number, number]> = [
      ['bytes=0-99', 0, 99],
      ['bytes=100-', 100, size - 1],
      ['bytes=-50', size - 50, size - 1],
    ];
    for (const [range, start, end] of cases) {
      const res = await get(proxy(), { headers: { range } });
      expect(res.status, range).toBe(206);
      expect(res.headers.get('content-range'), range).toBe(`bytes ${start}-${end}/${size}`);
      expect(res.headers.get('content-length'), range).toBe(String(end - start + 1));
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.length).toBe(end - start + 1);
      expect(sha(body), range).toBe(sha(clipBytes.subarray(start, end + 1)));
    }
    const rangeHeaders = media.log.filter((r) => r.path === `/${clip.name}` && r.range).map((r) => r.range);
    expect(rangeHeaders).toEqual(expect.arrayContaining(['bytes=0-99', 'bytes=100-', 'bytes=-50']));
  });

  it('answers an unsatisfiable range with 416', async () => {
    const res = await get(proxy(), { headers: { range: `bytes=${clipBytes.length + 10}-` } });
    await errorOf(res, 416, 'range_not_satisfiable');
    expect(res.headers.get('content-range')).toBe(`bytes */${clipBytes.length}`);
  });

  it('HEAD answers the headers only', async () => {
    const res = await get(proxy(), { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(clipBytes.length));
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it('download=true adds an RFC 5987 attachment name', async () => {
    const res = await get(proxy(`&download=true&filename=${enc('Vidéo 测试.mp4')}`));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="Vid_o __.mp4"; filename*=UTF-8''${enc('Vidéo 测试.mp4')}`,
    );
    await res.arrayBuffer();
    const plain = await get(proxy('&download=true'));
    expect(plain.headers.get('content-disposition')).toMatch(
      /^attachment; filename=".+\.mp4"; filename\*=UTF-8''.+\.mp4$/,
    );
    await plain.arrayBuffer();
  });

  it('upstream 500 → 502 error body', async () => {
    const flaky = `${media.url}/flaky.mp4`;
    // Extract first (cached), then make the media URL fail.
    expect((await get(`/api/v2/videos/info?url=${enc(flaky)}`)).status).toBe(200);
    media.setBehavior('/flaky.mp4', { failFirst: 1, failStatus: 500 });
    const err = await errorOf(await get(`/api/v2/stream/proxy?url=${enc(flaky)}`), 502, 'upstream_error');
    expect(err.message).toContain('500');
    const again = await get(`/api/v2/stream/proxy?url=${enc(flaky)}`);
    expect(again.status).toBe(200);
    await again.arrayBuffer();
  });

  it('survives a client that aborts mid-stream', async () => {
    const slow = `${media.url}/slow.mp4`;
    const ctl = new AbortController();
    const res = await get(`/api/v2/stream/proxy?url=${enc(slow)}`, { signal: ctl.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(first.value!.length).toBeGreaterThan(0);
    ctl.abort();
    await reader.read().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    // (that the upstream transfer stops too is checked with the TikTok relay below)

    const after = await get(`/api/v2/stream/proxy?url=${enc(slow)}`, { headers: { range: 'bytes=0-99' } });
    expect(after.status).toBe(206);
    expect(sha(Buffer.from(await after.arrayBuffer()))).toBe(sha(clipBytes.subarray(0, 100)));
    expect((await get('/api/v2/system/health')).status).toBe(200);
  });

  it('legacy /api/stream?format=proxy → the v2 proxy URL; /api/download adds download=true', async () => {
    const res = await get(`/api/stream?url=${enc(pageUrl())}&format=proxy&quality=480`);
    expect(res.status).toBe(302);
    const loc = new URL(res.headers.get('location')!);
    expect(loc.pathname).toBe('/api/v2/stream/proxy');
    expect(loc.searchParams.get('url')).toBe(pageUrl());
    expect(loc.searchParams.get('quality')).toBe('480');

    // A player that can only load URLs signs in with ?access_token=: the redirect carries it on.
    const dl = await fetch(
      `${server.url}/api/download?url=${enc(pageUrl())}&filename=clip&access_token=${server.owner.apiKey}`,
      { redirect: 'manual' },
    );
    expect(dl.status).toBe(302);
    const dlLoc = new URL(dl.headers.get('location')!);
    expect(dlLoc.searchParams.get('access_token')).toBe(server.owner.apiKey);
    expect(dlLoc.searchParams.get('download')).toBe('true');
    expect(dlLoc.searchParams.get('filename')).toBe('clip');
    const file = await fetch(dlLoc);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-disposition')).toContain(`filename="clip.mp4"`);
    expect(sha(Buffer.from(await file.arrayBuffer()))).toBe(sha(clipBytes));
  });
});

describe('BiliBili DASH: remuxed on the fly', () => {
  const referers: (string | undefined)[] = [];
  let failMedia = false;
  let formats: Format[];

  beforeAll(async () => {
    const res = await get(`/api/v2/stream/info/bilibili/${BV}?quality=360`);
    expect(res.status, await res.clone().text()).toBe(200);
    const body = (await res.json()) as Record<string, any>;
    expect(body).toMatchObject({ platform: 'bilibili', video_id: BV, quality: '360', mode: 'remux' });
    formats = body.formats as Format[];
    expect(formats.map((f) => f.kind)).toEqual(['video', 'audio']);
    for (const [format, file] of [
      [formats[0]!, videoOnly],
      [formats[1]!, audioOnly],
    ] as const) {
      const u = new URL(format.url);
      replay.add({
        name: `media:${format.format_id}`,
        method: 'GET',
        host: u.host,
        path: u.pathname,
        handler: (req, res) => {
          referers.push(req.headers.referer);
          if (failMedia) {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end('boom');
            return;
          }
          serveFile(file.path, req, res);
        },
      });
    }
  });

  it('/stream/info describes the choice and its URLs', async () => {
    const body = (await (await get(`/api/v2/stream/info/bilibili/${BV}?quality=360p`)).json()) as Record<string, any>;
    expect(body.formats[0].height).toBeLessThanOrEqual(360);
    expect(body.direct_usable).toBe(false);
    expect(body.proxy_url).toBe(`${server.url}/api/v2/stream/proxy/bilibili/${BV}?quality=360`);
    expect(body.play_url).toBe(body.proxy_url);
    expect(body.embed_url).toBe(`${server.url}/api/v2/stream/embed/bilibili/${BV}?quality=360`);
    expect(body.reason.length).toBeGreaterThan(0);
  });

  it('/stream/direct sends players to the proxy (separate streams, Referer needed)', async () => {
    const res = await get(`/api/v2/stream/direct/bilibili/${BV}?quality=360`);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(`${server.url}/api/v2/stream/proxy/bilibili/${BV}?quality=360`);
  });

  it('streams a fragmented MP4 with both streams, fetched with the BiliBili Referer', async () => {
    referers.length = 0;
    const res = await get(`/api/v2/stream/proxy/bilibili/${BV}?quality=360`, { headers: { range: 'bytes=0-99' } });
    expect(res.status, res.status === 200 ? '' : await res.clone().text()).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect(res.headers.get('accept-ranges')).toBe('none');
    expect(res.headers.get('content-range')).toBeNull();
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.includes(Buffer.from('moof'))).toBe(true);
    const file = path.join(mediaDir, 'remuxed.mp4');
    await writeFile(file, bytes);
    const probe = await probeMedia(file);
    expect(probe.video?.codec).toBe('h264');
    expect(probe.audio?.codec).toBe('aac');
    expect(probe.duration).toBeGreaterThan(2.8);
    expect(probe.duration).toBeLessThan(3.5);
    expect(referers.length).toBeGreaterThanOrEqual(2);
    for (const r of referers) expect(r).toMatch(/^https:\/\/www\.bilibili\.com/);
  });

  it('download=true names the file after the title', async () => {
    const res = await get(`/api/v2/stream/proxy/bilibili/${BV}?quality=360&download=true`);
    expect(res.status).toBe(200);
    expect(decodeURIComponent(res.headers.get('content-disposition')!.split("UTF-8''")[1]!)).toBe(
      `骁龙888性能分析：翻车！ [${BV}].mp4`,
    );
    await res.arrayBuffer();
  });

  it('a client leaving mid-remux does not hurt the server', async () => {
    const ctl = new AbortController();
    const res = await get(`/api/v2/stream/proxy/bilibili/${BV}?quality=360`, { signal: ctl.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    ctl.abort();
    await reader.read().catch(() => undefined);
    // ffmpeg is killed with the connection
    const deadline = Date.now() + 5000;
    while (ffmpegReadingFrom(replay.port).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(ffmpegReadingFrom(replay.port)).toEqual([]);
    const again = await get(`/api/v2/stream/proxy/bilibili/${BV}?quality=360`);
    expect(again.status).toBe(200);
    expect((await again.arrayBuffer()).byteLength).toBeGreaterThan(1000);
  });

  it('media server errors → 502', async () => {
    failMedia = true;
    try {
      const res = await get(`/api/v2/stream/proxy/bilibili/${BV}?quality=360&download=true`);
      await errorOf(res, 502, 'upstream_error');
      expect(res.headers.get('content-disposition')).toBeNull();
    } finally {
      failMedia = false;
    }
  });

  it('legacy /api/stream redirects to /stream/direct; /api/download to the proxy', async () => {
    const res = await get(`/api/stream?url=${enc(BV_URL)}&quality=720p`);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(`${server.url}/api/v2/stream/direct/bilibili/${BV}?quality=720`);
    const v2 = await get(`/api/v2/stream/url?url=${enc(BV_URL)}`);
    expect(v2.headers.get('location')).toBe(`${server.url}/api/v2/stream/direct/bilibili/${BV}?quality=best`);
    const dl = await get(`/api/download?url=${enc(BV_URL)}&quality=360`);
    expect(dl.headers.get('location')).toBe(
      `${server.url}/api/v2/stream/proxy/bilibili/${BV}?quality=360&download=true`,
    );
  });
});

describe('muxed platforms', () => {
  it('Twitch clip: /stream/direct → the signed clip URL', async () => {
    const info = (await (await get(`/api/v2/videos/twitch/${CLIP_SLUG}`)).json()) as { formats: Format[] };
    const res = await get(`/api/v2/stream/direct/twitch/${CLIP_SLUG}?quality=720`);
    expect(res.status, await res.clone().text()).toBe(302);
    const location = res.headers.get('location')!;
    const chosen = info.formats.find((f) => f.url === location);
    expect(chosen, location).toBeDefined();
    expect(chosen!.kind).toBe('muxed');
    expect(chosen!.height).toBeLessThanOrEqual(720);
    expect(location).toMatch(/[?&]sig=.+&token=/);
    const heights = info.formats.map((f) => f.height ?? 0).filter((h) => h <= 720);
    expect(chosen!.height).toBe(Math.max(...heights));

    const si = (await (await get(`/api/v2/stream/info/twitch/${CLIP_SLUG}?quality=720`)).json()) as Record<string, any>;
    expect(si).toMatchObject({ mode: 'relay', direct_usable: true, direct_url: location, play_url: location });
  });

  it('legacy /api/stream?format=json', async () => {
    const res = await get(`/api/stream?url=${enc(CLIP_URL)}&format=json&quality=480p`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toEqual({
      platform: 'twitch',
      video_id: CLIP_SLUG,
      stream_url: expect.stringMatching(/^https:\/\//),
      quality: '480p',
      success: true,
    });
    const direct = await get(`/api/v2/stream/direct/twitch/${CLIP_SLUG}?quality=480`);
    expect(body.stream_url).toBe(direct.headers.get('location'));
  });

  it('TikTok: its CDN wants a Referer, so /stream/direct goes to the proxy', async () => {
    const res = await get(`/api/v2/stream/direct/tiktok/${TT_ID}`);
    expect(res.status, await res.clone().text()).toBe(302);
    expect(res.headers.get('location')).toBe(`${server.url}/api/v2/stream/proxy/tiktok/${TT_ID}?quality=best`);
    const si = (await (await get(`/api/v2/stream/info/tiktok/${TT_ID}`)).json()) as Record<string, any>;
    expect(si.direct_usable).toBe(false);
    expect(si.direct_format.http_headers.Referer).toBe('https://www.tiktok.com/');
  });

  it('TikTok proxy: relays with the Referer and stops the upstream transfer when the client leaves', async () => {
    const si = (await (await get(`/api/v2/stream/info/tiktok/${TT_ID}?quality=worst`)).json()) as Record<string, any>;
    expect(si.mode).toBe('relay');
    const u = new URL(si.formats[0].url);
    const seen: { referer?: string | undefined; closed: boolean; finished: boolean } = {
      closed: false,
      finished: false,
    };
    const total = 5_000_000;
    replay.add({
      name: 'tiktok endless',
      method: 'GET',
      host: u.host,
      path: u.pathname,
      handler: (req, res) => {
        seen.referer = req.headers.referer;
        res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': total });
        let sent = 0;
        const timer = setInterval(() => {
          if (res.destroyed) return clearInterval(timer);
          res.write(Buffer.alloc(2000, 1));
          sent += 2000;
          if (sent >= total) {
            clearInterval(timer);
            res.end();
          }
        }, 20);
        res.on('finish', () => (seen.finished = true));
        res.on('close', () => {
          seen.closed = true;
          clearInterval(timer);
        });
      },
    });
    const ctl = new AbortController();
    const res = await get(`/api/v2/stream/proxy/tiktok/${TT_ID}?quality=worst`, { signal: ctl.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(total));
    const reader = res.body!.getReader();
    expect((await reader.read()).value!.length).toBeGreaterThan(0);
    ctl.abort();
    await reader.read().catch(() => undefined);
    const deadline = Date.now() + 3000;
    while (!seen.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(seen).toEqual({ referer: 'https://www.tiktok.com/', closed: true, finished: false });
    expect((await get('/api/v2/system/health')).status).toBe(200);
  });

  it('the embed page: a video tag on the proxy URL, a strict CSP', async () => {
    const res = await get(`/api/v2/stream/embed/twitch/${CLIP_SLUG}?quality=720`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toBe(EMBED_CSP);
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('script-src');
    const html = await res.text();
    expect(html).toContain(`<video controls`);
    expect(html).toContain(`src="/api/v2/stream/proxy/twitch/${CLIP_SLUG}?quality=720"`);
    expect(html).toContain('<title>xqc makes the wrong choice</title>');
    // the style block is allowed by its hash
    const css = /<style>([^<]*)<\/style>/.exec(html)![1]!;
    expect(csp).toContain(`'sha256-${createHash('sha256').update(css).digest('base64')}'`);
  });

  it('the embed page escapes what it interpolates', () => {
    const html = embedHtml(`</title><script>alert("x")</script>&'`, `/a?b=1&c="><img src=x onerror=alert(1)>`);
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('"><img');
    expect(html).toContain('&lt;/title&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;');
    expect(html).toContain('src="/a?b=1&amp;c=&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"');
  });
});

describe('errors', () => {
  it('unknown video → 404', async () => {
    await errorOf(await get('/api/v2/stream/direct/bilibili/BV1UnExisted'), 404, 'not_found');
    await errorOf(await get('/api/v2/stream/proxy/bilibili/BV1UnExisted'), 404, 'not_found');
    await errorOf(await get('/api/v2/stream/embed/bilibili/BV1UnExisted'), 404, 'not_found');
  });

  it('invalid quality or parameters → 400', async () => {
    await errorOf(await get(`/api/v2/stream/direct/twitch/${CLIP_SLUG}?quality=999`), 400, 'validation_failed');
    await errorOf(await get(`/api/v2/stream/info/twitch/${CLIP_SLUG}?quality=bestp`), 400, 'validation_failed');
    await errorOf(await get(`/api/v2/stream/proxy/twitch/${CLIP_SLUG}?nope=1`), 400, 'validation_failed');
    await errorOf(await get(`/api/stream?url=${enc(CLIP_URL)}&format=mp4`), 400, 'validation_failed');
    await errorOf(await get('/api/v2/stream/url?url=ftp%3A%2F%2Fexample.com%2Fa.mp4'), 400, 'invalid_url');
    await errorOf(await get('/api/v2/stream/direct/generic/abc'), 400, 'unsupported_url');
  });

  it('normalizes qualities', () => {
    expect(normalizeQuality(undefined)).toBe('best');
    expect(normalizeQuality('720p')).toBe('720');
    expect(normalizeQuality('1080P')).toBe('1080');
    expect(normalizeQuality('highest')).toBe('best');
    expect(normalizeQuality('lowest')).toBe('worst');
    expect(() => normalizeQuality('123')).toThrow(/quality/);
  });
});

describe('a generic HLS playlist (no upstream rewrite)', () => {
  let plain: TestServer;
  let hls: MediaFile;

  beforeAll(async () => {
    hls = await makeHls(mediaDir, { durationS: 3, width: 320, height: 240, segmentS: 1 });
    plain = await startTestServer('embedded', { ALLOW_PRIVATE_ADDRESSES: 'true' });
  }, 120_000);
  afterAll(async () => {
    await plain?.close();
  });

  it('is remuxed into fragmented MP4: ffmpeg fetches the playlist and every segment', async () => {
    const url = `${media.url}/${hls.name}`;
    const before = media.log.length;
    const res = await plain.fetch(`${plain.url}/api/v2/stream/proxy?url=${enc(url)}`);
    expect(res.status, res.status === 200 ? '' : await res.clone().text()).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.includes(Buffer.from('moof'))).toBe(true);
    const file = path.join(mediaDir, 'hls-remuxed.mp4');
    await writeFile(file, bytes);
    const probe = await probeMedia(file);
    expect(probe.video?.codec).toBe('h264');
    expect(probe.audio?.codec).toBe('aac');
    expect(probe.duration).toBeGreaterThan(2.5);
    const segments = media.log.slice(before).filter((r) => r.path.startsWith(`/${path.dirname(hls.name)}/seg`));
    expect(new Set(segments.map((r) => r.path)).size).toBe(3);
  });
});

/** pids of ffmpeg processes whose command line reads from 127.0.0.1:port */
function ffmpegReadingFrom(port: number): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const args = cmd.split('\0');
    if (path.basename(args[0] ?? '') === 'ffmpeg' && args.some((a) => a.startsWith(`http://127.0.0.1:${port}/`)))
      out.push(Number(pid));
  }
  return out;
}
