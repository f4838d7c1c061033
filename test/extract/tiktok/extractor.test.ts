import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../../src/errors/app-error.js';
import type { ExtractContext } from '../../../src/extract/extractor.js';
import { codecName, tiktokExtractor } from '../../../src/extract/tiktok/extractor.js';
import { parseVideoDetail } from '../../../src/extract/tiktok/rehydration.js';
import { DEFAULT_USER_AGENT, HttpClient } from '../../../src/infra/http-client/http-client.js';
import { FIXTURES_DIR, startReplayServer, type ReplayServer } from '../../support/replay-server.js';

const VIDEO_ID = '7660566211100511518';
const PHOTO_ID = '7663591047909379341';
const DELETED_ID = '7660566211100511517';

const page = (file: string) => readFileSync(path.join(FIXTURES_DIR, 'tiktok', file), 'utf8');

async function extractUrl(ctx: ExtractContext, url: string) {
  const target = tiktokExtractor.match(new URL(url));
  if (!target) throw new Error(`no match for ${url}`);
  return tiktokExtractor.extract(target, ctx);
}

describe('parseVideoDetail (pure)', () => {
  it('reads webapp.video-detail from the rehydration script', () => {
    const detail = parseVideoDetail(page(`${VIDEO_ID}.video.html`));
    expect(detail?.statusCode).toBe(0);
    expect(detail?.item?.id).toBe(VIDEO_ID);
    expect(detail?.item?.createTime).toBe('1783614572');
  });

  it('keeps the status of a missing item', () => {
    expect(parseVideoDetail(page(`${DELETED_ID}.deleted.html`))).toEqual({
      statusCode: 10204,
      statusMsg: "item doesn't exist",
      item: null,
    });
  });

  it('returns null for pages without the blob (decoys, captchas)', () => {
    expect(parseVideoDetail('<html><body>Please wait...</body></html>')).toBeNull();
    expect(
      parseVideoDetail(
        '<script type="application/json" id="__UNIVERSAL_DATA_FOR_REHYDRATION__">{"__DEFAULT_SCOPE__":{}}</script>',
      ),
    ).toBeNull();
    expect(parseVideoDetail('<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__">{not json</script>')).toBeNull();
  });

  it('names codecs from CodecType, GearName or UrlKey', () => {
    expect(codecName('h265_hvc1')).toBe('h265');
    expect(codecName('h264', 'lowest_540_0')).toBe('h264');
    expect(codecName(undefined, 'x', 'v15044_bytevc1_1080p_1715126')).toBe('h265');
    expect(codecName(undefined, 'x')).toBeNull();
  });
});

describe('tiktok extractor against recorded pages', () => {
  let replay: ReplayServer;
  let http: HttpClient;
  let ctx: ExtractContext;

  beforeAll(async () => {
    replay = await startReplayServer();
    http = new HttpClient({ upstreamRewrite: replay.url });
    ctx = { http, log: pino({ level: 'silent' }) };
  });
  afterAll(async () => {
    await http.close();
    await replay.stop();
  });

  it('maps the video page', async () => {
    const info = await extractUrl(ctx, `https://www.tiktok.com/@mysticaquariumct/video/${VIDEO_ID}`);
    expect(info).toMatchObject({
      platform: 'tiktok',
      id: VIDEO_ID,
      url: `https://www.tiktok.com/@i/video/${VIDEO_ID}`,
      title: 'Duck’s fish era has officially begun. 🐟✨',
      description: 'Duck’s fish era has officially begun. 🐟✨',
      duration: 67,
      uploader: 'Mystic Aquarium',
      uploader_id: 'mysticaquariumct',
      upload_date: '2026-07-09',
      view_count: 76000,
      like_count: 21000,
      tags: [],
      is_live: false,
      extractor: 'tiktok',
    });
    expect(info.thumbnail_url).toMatch(
      /^https:\/\/p16-common-sign\.tiktokcdn-us\.com\/tos-useast8-p-0068-tx2\/o8FArVm/,
    );
    expect(info.images).toBeUndefined();
    expect(replay.requests.at(-1)).toMatchObject({ host: 'www.tiktok.com', path: `/@i/video/${VIDEO_ID}` });
  });

  it('lists the five bitrate renditions plus play and download', async () => {
    const info = await extractUrl(ctx, `https://www.tiktok.com/@mysticaquariumct/video/${VIDEO_ID}`);
    expect(info.formats.map((f) => [f.format_id, f.vcodec, f.width, f.height, f.bitrate, f.filesize])).toEqual([
      ['adapt_lowest_1080_1', 'h265', 1080, 1920, 1715126, 14548779],
      ['normal_720_0', 'h264', 720, 1280, 1479498, 12550214],
      ['adapt_lower_720_1', 'h265', 720, 1280, 1079671, 9158581],
      ['adapt_540_1', 'h265', 576, 1024, 815560, 6918195],
      ['lowest_540_0', 'h264', 576, 1024, 514561, 4364900],
      ['play', 'h264', 720, 1280, 1479498, 12550214],
      ['download', null, 720, 1280, null, null],
    ]);
    for (const f of info.formats) {
      expect(f).toMatchObject({ kind: 'muxed', protocol: 'https', ext: 'mp4', acodec: 'aac' });
      expect(f.url).toMatch(/^https:\/\/v16-webapp-prime\.us\.tiktok\.com\/video\/tos\//);
      expect(f.http_headers).toEqual({ Referer: 'https://www.tiktok.com/', 'User-Agent': DEFAULT_USER_AGENT });
    }
    // the web player's default is the h264 720p rendition
    expect(info.formats.find((f) => f.format_id === 'play')!.url).toBe(
      info.formats.find((f) => f.format_id === 'normal_720_0')!.url,
    );
  });

  it('maps ASR captions to auto vtt subtitles', async () => {
    const info = await extractUrl(ctx, `https://www.tiktok.com/@mysticaquariumct/video/${VIDEO_ID}`);
    expect(Object.keys(info.subtitles ?? {})).toEqual(['eng-US']);
    expect(info.subtitles!['eng-US']).toEqual([
      expect.objectContaining({
        ext: 'vtt',
        auto: true,
        url: expect.stringMatching(/^https:\/\/v16m-webapp\.tiktokcdn-us\.com\//),
      }),
    ]);
  });

  it('maps a photo slideshow to its images and music', async () => {
    const info = await extractUrl(ctx, `https://www.tiktok.com/@duolingo/photo/${PHOTO_ID}`);
    expect(info).toMatchObject({
      id: PHOTO_ID,
      url: `https://www.tiktok.com/@i/video/${PHOTO_ID}`,
      title: '@Tinder',
      description: '@Tinder ',
      duration: 21,
      uploader: 'Duolingo',
      uploader_id: 'duolingo',
      upload_date: '2026-07-17',
      view_count: 65300,
      like_count: 1053,
    });
    expect(info.images).toHaveLength(5);
    for (const u of info.images!)
      expect(u).toMatch(
        /^https:\/\/p1[69]-common-sign\.tiktokcdn-us\.com\/tos-useast5-i-photomode-tx\/.+photomode-image\.jpeg/,
      );
    expect(info.thumbnail_url).toBe(info.images![0]);
    expect(info.formats).toEqual([
      expect.objectContaining({
        format_id: 'audio',
        kind: 'audio',
        ext: 'mp3',
        acodec: 'mp3',
        vcodec: null,
        url: expect.stringMatching(/^https:\/\/v16m\.tiktokcdn-us\.com\/.+mime_type=audio_mpeg/),
        http_headers: expect.objectContaining({ Referer: 'https://www.tiktok.com/' }),
      }),
    ]);
    expect(replay.requests.at(-1)).toMatchObject({ path: `/@i/video/${PHOTO_ID}` });
  });

  it('answers not_found for a deleted item', async () => {
    const err = await extractUrl(ctx, `https://www.tiktok.com/@someone/video/${DELETED_ID}`).catch((e: unknown) => e);
    expect(isAppError(err) && err.code).toBe('not_found');
  });
});

describe('tiktok extractor: response variations', () => {
  const pageRoute = (
    name: string,
    id: string,
    body: string,
    extra: { status?: number; headers?: Record<string, string> } = {},
  ) => ({
    name,
    method: 'GET',
    host: 'www.tiktok.com',
    path: `/@i/video/${id}`,
    contentType: 'text/html; charset=utf-8',
    body,
    ...extra,
  });
  const withStatus = (statusCode: number, statusMsg: string) =>
    `<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__" type="application/json">${JSON.stringify({
      __DEFAULT_SCOPE__: { 'webapp.video-detail': { statusCode, statusMsg } },
    })}</script>`;

  let replay: ReplayServer;
  let http: HttpClient;
  let ctx: ExtractContext;
  beforeAll(async () => {
    replay = await startReplayServer([
      pageRoute('with cookies', VIDEO_ID, page(`${VIDEO_ID}.video.html`), {
        headers: { 'set-cookie': 'tt_chain_token=abc123==; Path=/; Domain=.tiktok.com; HttpOnly; Secure' },
      }),
      pageRoute('private', '1', withStatus(10216, 'status_self_see')),
      pageRoute('other status', '2', withStatus(10101, 'server is busy')),
      pageRoute('decoy', '3', '<html><head><title>TikTok</title></head><body></body></html>'),
      pageRoute('blocked', '4', 'Too many requests', { status: 429 }),
    ]);
    http = new HttpClient({ upstreamRewrite: replay.url });
    ctx = { http: http.withCookies(() => 'sessionid=admin-secret'), log: pino({ level: 'silent' }) };
  });
  afterAll(async () => {
    await http.close();
    await replay.stop();
  });

  it('passes the page cookies (not the admin ones) on to the media requests', async () => {
    const info = await extractUrl(ctx, `https://www.tiktok.com/@mysticaquariumct/video/${VIDEO_ID}`);
    expect(replay.requests.at(-1)!.headers.cookie).toBe('sessionid=admin-secret');
    for (const f of info.formats) expect(f.http_headers?.Cookie).toBe('tt_chain_token=abc123==');
  });

  it.each([
    ['1', 'private'],
    ['2', 'upstream_error'],
    ['3', 'upstream_error'],
    ['4', 'rate_limited'],
  ])('item %s → %s', async (id, code) => {
    const err = await extractUrl(ctx, `https://www.tiktok.com/@i/video/${id}`).catch((e: unknown) => e);
    expect(isAppError(err) && err.code).toBe(code);
  });
});
