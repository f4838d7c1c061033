/**
 * The yt-dlp engine against the real yt-dlp and ffmpeg, with media served
 * from 127.0.0.1 (hence allowPrivateAddresses: true, except in the SSRF case).
 */
import { stat, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExtractContext } from '../../../src/extract/extractor.js';
import { createYtdlpExtractor, type YtdlpExtractorOptions } from '../../../src/extract/ytdlp/extractor.js';
import { makeHls, makeMedia, type MediaFile } from '../../support/media.js';
import { type MediaServer, pageDescription, pageTitle, startMediaServer } from '../../support/media-server.js';

let dir: string;
let server: MediaServer;
let mp4: MediaFile;
let hls: MediaFile;
// The engine uses neither the HTTP client nor the logger.
const ctx = {} as ExtractContext;
const CLIP = 'muxed-3s-320x240';

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ytbh-ytdlp-'));
  [mp4, hls] = await Promise.all([
    makeMedia(dir, { durationS: 3, width: 320, height: 240, kind: 'muxed', container: 'mp4' }),
    makeHls(dir, { durationS: 3, width: 320, height: 240 }),
  ]);
  server = await startMediaServer(dir, { paths: { '/hang.mp4': { delayMs: Infinity } } });
  await writeFile(path.join(dir, 'hello.txt'), 'just some text\n');
  await writeFile(
    path.join(dir, 'plain.html'),
    '<!DOCTYPE html><html><head><title>Nothing here</title></head><body>hi</body></html>',
  );
  const item = (title: string, link: string) =>
    `<item><title>${title}</title><link>${server.url}/${link}</link><guid>${title}</guid></item>`;
  await writeFile(
    path.join(dir, 'feed.xml'),
    `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Test feed</title><link>${server.url}/</link>` +
      `${item('one', `page/${CLIP}.html`)}${item('two', mp4.name)}${item('three', hls.name)}</channel></rss>`,
  );
});

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

function engine(over: Partial<YtdlpExtractorOptions> = {}) {
  const pids: number[] = [];
  const extractor = createYtdlpExtractor({
    ytdlpPath: 'yt-dlp',
    timeoutMs: 30_000,
    allowPrivateAddresses: true,
    onSpawn: (pid) => pids.push(pid),
    ...over,
  });
  const extract = (urlPath: string, c: ExtractContext = ctx) => {
    const target = extractor.match(new URL(`${server.url}/${urlPath}`));
    if (!target) throw new Error('no match');
    return extractor.extract(target, c);
  };
  return { extractor, extract, pids };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const { extractor, extract } = engine();

describe('match', () => {
  it('claims any http(s) URL with a hashed id', () => {
    const target = extractor.match(new URL('https://example.com/watch?v=1'));
    expect(target).toEqual({
      platform: 'generic',
      kind: 'video',
      id: expect.stringMatching(/^[0-9a-f]{16}$/),
      url: 'https://example.com/watch?v=1',
    });
    expect(extractor.match(new URL('https://example.com/watch?v=2'))!.id).not.toBe(target!.id);
    expect(extractor.match(new URL('ftp://example.com/a.mp4'))).toBeNull();
  });
});

describe('extract', () => {
  it('a direct MP4 link', async () => {
    const info = await extract(mp4.name);
    expect(info).toMatchObject({ platform: 'generic', id: CLIP, extractor: 'ytdlp:Generic', is_live: false });
    expect(Math.abs(info.duration! - 3)).toBeLessThan(0.2);
    expect(info.formats).toHaveLength(1);
    expect(info.formats[0]).toMatchObject({
      kind: 'muxed',
      ext: 'mp4',
      vcodec: 'h264',
      acodec: 'aac',
      width: 320,
      height: 240,
      fps: 25,
      protocol: 'https',
      url: `${server.url}/${mp4.name}`,
      filesize: (await stat(mp4.path)).size,
    });
  });

  it('an og:video page', async () => {
    const info = await extract(`page/${CLIP}.html`);
    expect(info).toMatchObject({
      id: CLIP,
      title: pageTitle(CLIP),
      description: pageDescription(CLIP),
      url: `${server.url}/page/${CLIP}.html`,
    });
    expect(Math.abs(info.duration! - 3)).toBeLessThan(0.2);
    expect(info.formats).toEqual([
      expect.objectContaining({ ext: 'mp4', width: 320, height: 240, url: `${server.url}/${mp4.name}` }),
    ]);
    // yt-dlp sends a Referer for media found on a page; it is kept for the downloader.
    expect(info.formats[0]!.http_headers).toMatchObject({ Referer: `${server.url}/page/${CLIP}.html` });
  });

  it('an HLS playlist', async () => {
    const info = await extract(hls.name);
    expect(Math.abs(info.duration! - 3)).toBeLessThan(0.2);
    expect(info.formats.length).toBeGreaterThan(0);
    for (const f of info.formats) expect(f.protocol).toBe('hls');
    expect(info.formats[0]).toMatchObject({ width: 320, height: 240, kind: 'muxed' });
  });

  it('leaves gaps unfilled with probing off', async () => {
    const info = await engine({ probe: false }).extract(mp4.name);
    expect(info.duration).toBeNull();
    expect(info.formats[0]).toMatchObject({ width: null, vcodec: null });
  });
});

describe('errors', () => {
  it('a 404 is not_found', async () => {
    await expect(extract('missing.mp4')).rejects.toMatchObject({ code: 'not_found' });
  });

  it.each(['plain.html', 'hello.txt'])('%s (no video) is unsupported_url', async (name) => {
    await expect(extract(name)).rejects.toMatchObject({ code: 'unsupported_url' });
  });

  it('a server that never answers is upstream_timeout, and yt-dlp is killed', async () => {
    const slow = engine({ timeoutMs: 3000 });
    const started = Date.now();
    await expect(slow.extract('hang.mp4')).rejects.toMatchObject({ code: 'upstream_timeout' });
    expect(Date.now() - started).toBeLessThan(8000);
    expect(slow.pids).toHaveLength(1);
    expect(alive(slow.pids[0]!)).toBe(false);
  });

  it('an aborted request kills yt-dlp', async () => {
    const e = engine();
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('gone')), 1500);
    await expect(e.extract('hang.mp4', { signal: ac.signal } as ExtractContext)).rejects.toThrow('gone');
    expect(alive(e.pids[0]!)).toBe(false);
  });

  it('a private address is invalid_url without spawning', async () => {
    const strict = engine({ allowPrivateAddresses: false });
    await expect(strict.extract(mp4.name)).rejects.toMatchObject({ code: 'invalid_url' });
    const local = strict.extractor.match(new URL('http://localhost:9/x.mp4'))!;
    await expect(strict.extractor.extract(local, ctx)).rejects.toMatchObject({ code: 'invalid_url' });
    expect(strict.pids).toEqual([]);
  });
});

describe('extractPlaylist', () => {
  it('lists an RSS feed flat, with clean entry URLs', async () => {
    const target = extractor.match(new URL(`${server.url}/feed.xml`))!;
    const playlist = await extractor.extractPlaylist!(target, ctx);
    expect(playlist).toMatchObject({ platform: 'generic', title: 'Test feed', next_page: null });
    expect(playlist.entries).toEqual([
      { id: 'one', url: `${server.url}/page/${CLIP}.html`, title: 'one', duration: null },
      { id: 'two', url: `${server.url}/${mp4.name}`, title: 'two', duration: null },
      { id: 'three', url: `${server.url}/${hls.name}`, title: 'three', duration: null },
    ]);
  });

  it('treats a single video as a one-entry playlist and rejects bad pages', async () => {
    const target = extractor.match(new URL(`${server.url}/${mp4.name}`))!;
    const playlist = await extractor.extractPlaylist!(target, ctx);
    expect(playlist.entries).toEqual([{ id: CLIP, url: `${server.url}/${mp4.name}`, title: CLIP, duration: null }]);
    await expect(extractor.extractPlaylist!(target, ctx, 'x')).rejects.toMatchObject({ code: 'validation_failed' });
  });
});
