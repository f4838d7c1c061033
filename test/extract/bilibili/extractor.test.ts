import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import path from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors/app-error.js';
import { clearWbiKeyCache } from '../../../src/extract/bilibili/api.js';
import { bilibiliExtractor } from '../../../src/extract/bilibili/extractor.js';
import { avToBv } from '../../../src/extract/bilibili/url.js';
import type { ExtractContext, Target } from '../../../src/extract/extractor.js';
import type { Format, VideoInfo } from '../../../src/extract/model.js';
import { HttpClient } from '../../../src/infra/http-client/http-client.js';
import {
  FIXTURES_DIR,
  startReplayServer,
  type RecordedRequest,
  type ReplayRoute,
  type ReplayServer,
} from '../../support/replay-server.js';

const API = 'api.bilibili.com';
const VIEW = '/x/web-interface/view';
const PLAYURL = '/x/player/wbi/playurl';
const PLAYER_V2 = '/x/player/wbi/v2';
const MEDIA_HEADERS = { Referer: 'https://www.bilibili.com', 'User-Agent': expect.stringMatching(/^Mozilla\/5\.0 /) };

/** The mixin key of the recorded nav answer's keys (last vector of wbi-sign-vectors.json). */
const NAV_MIXIN_KEY = (
  JSON.parse(readFileSync(path.join(FIXTURES_DIR, 'bilibili/wbi/wbi-sign-vectors.json'), 'utf8')) as {
    vectors: { img_key: string; mixin_key: string }[];
  }
).vectors.find((v) => v.img_key === 'd2f367bf78934216b7fc14b6e80bb705')!.mixin_key;

/** An api.bilibili.com route matched on bvid (and cid when given). */
function apiRoute(
  name: string,
  routePath: string,
  bvid: string,
  answer: Partial<ReplayRoute>,
  cid?: number,
): ReplayRoute {
  const match = { 'query.bvid': bvid, ...(cid === undefined ? {} : { 'query.cid': cid }) };
  return { name, method: 'GET', host: API, path: routePath, match, ...answer };
}

const recorded = (bvid: string, endpoint: 'x-player-wbi-playurl' | 'x-player-wbi-v2'): Partial<ReplayRoute> => ({
  file: `bilibili/api/${bvid}.${endpoint}.json`,
});

/** An error envelope: HTTP 200 with a non-zero code, as BiliBili answers. */
function apiBody(code: number, message: string): Partial<ReplayRoute> {
  return { body: JSON.stringify({ code, message, ttl: 1 }) };
}

/** A recorded view answer served under another bvid. */
function viewAs(bvid: string, source: string): Partial<ReplayRoute> {
  const file = path.join(FIXTURES_DIR, `bilibili/api/${source}.x-web-interface-view.json`);
  const env = JSON.parse(readFileSync(file, 'utf8')) as { data: Record<string, unknown> };
  return { body: JSON.stringify({ ...env, data: { ...env.data, bvid } }) };
}

function shortLink(slug: string, answer: Partial<ReplayRoute>): ReplayRoute {
  return { name: `b23-${slug}`, method: 'GET', host: 'b23.tv', path: `/${slug}`, ...answer };
}

function redirect(location: string): Partial<ReplayRoute> {
  return {
    handler: (_req, res) => {
      res.writeHead(302, { location });
      res.end();
    },
  };
}

/** -352 on the first call, the recorded BV1Et4y1r7Eu answer afterwards. */
function riskControlOnce(): Partial<ReplayRoute> {
  let calls = 0;
  const ok = readFileSync(path.join(FIXTURES_DIR, 'bilibili/api/BV1Et4y1r7Eu.x-player-wbi-playurl.json'));
  return {
    handler: (_req: RecordedRequest, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(calls++ === 0 ? JSON.stringify({ code: -352, message: '风控校验失败', ttl: 1 }) : ok);
    },
  };
}

// The multi-part video has a view answer only; its parts borrow other recorded playurl/player answers.
const MULTI = 'BV1wE4m1R7cu';
const MULTI_CIDS = { p1: 25678317262, p2: 25681134366 };
// Made-up ids (valid BV shape) for view answers the fixtures do not have.
const VIEW_ERRORS: [number, string, string][] = [
  [-404, '啥都木有', 'not_found'],
  [62002, '稿件不可见', 'not_found'],
  [62004, '稿件审核中', 'not_found'],
  [-403, '访问权限不足', 'region_blocked'],
  [-10403, '抱歉您所在地区不可观看！', 'region_blocked'],
  [-101, '账号未登录', 'login_required'],
  [62012, '仅UP主自己可见', 'private'],
  [12345, '奇怪的错误', 'upstream_error'],
];
const errorBvid = (code: number): string => avToBv(10_000_000 + Math.abs(code));
const PAID = 'BV1tN4y1F79k';
const RISKY = avToBv(424242);

const extraRoutes: ReplayRoute[] = [
  apiRoute('multi-p1-playurl', PLAYURL, MULTI, recorded('BV13ht2ejE1S', 'x-player-wbi-playurl'), MULTI_CIDS.p1),
  apiRoute('multi-p2-playurl', PLAYURL, MULTI, recorded('BV1Et4y1r7Eu', 'x-player-wbi-playurl'), MULTI_CIDS.p2),
  apiRoute('multi-p1-player-broken', PLAYER_V2, MULTI, { status: 500, body: 'oops' }, MULTI_CIDS.p1),
  apiRoute('multi-p2-player', PLAYER_V2, MULTI, recorded('BV13L4y1K7th', 'x-player-wbi-v2'), MULTI_CIDS.p2),
  ...VIEW_ERRORS.map(([code, message]) => apiRoute(`view-${code}`, VIEW, errorBvid(code), apiBody(code, message))),
  apiRoute('paid-playurl', PLAYURL, PAID, apiBody(87008, '当前视频为充电专属视频')),
  apiRoute('paid-player', PLAYER_V2, PAID, recorded('BV13L4y1K7th', 'x-player-wbi-v2')),
  apiRoute('risky-view', VIEW, RISKY, viewAs(RISKY, 'BV1tN4y1F79k')),
  apiRoute('risky-playurl', PLAYURL, RISKY, riskControlOnce()),
  apiRoute('risky-player', PLAYER_V2, RISKY, recorded('BV13L4y1K7th', 'x-player-wbi-v2')),
  shortLink('abc123', redirect('https://www.bilibili.com/video/BV1Et4y1r7Eu?p=1&share_source=copy')),
  shortLink('part2', redirect('https://m.bilibili.com/video/av1256708328?p=2')),
  shortLink('space', redirect('https://space.bilibili.com/25876945')),
  shortLink('dead', { status: 404, contentType: 'text/html', body: '<html></html>' }),
];

let replay: ReplayServer;
let http: HttpClient;
const log = pino({ level: 'silent' });

function ctx(extra: Partial<ExtractContext> = {}): ExtractContext {
  return { http, log, ...extra };
}

function target(url: string): Target {
  const t = bilibiliExtractor.match(new URL(url));
  if (!t) throw new Error(`no match for ${url}`);
  return t;
}

function extract(url: string, extra?: Partial<ExtractContext>): Promise<VideoInfo> {
  return bilibiliExtractor.extract(target(url), ctx(extra));
}

async function extractError(url: string): Promise<AppError> {
  const err: unknown = await extract(url).then(
    () => expect.fail(`expected ${url} to fail`),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

function requestsTo(routePath: string): RecordedRequest[] {
  return replay.requests.filter((r) => r.host === API && r.path === routePath);
}

function byKind(formats: Format[]): Partial<Record<Format['kind'], Format[]>> {
  const out: Partial<Record<Format['kind'], Format[]>> = {};
  for (const f of formats) (out[f.kind] ??= []).push(f);
  return out;
}

beforeAll(async () => {
  replay = await startReplayServer(extraRoutes);
  http = new HttpClient({ upstreamRewrite: replay.url });
});

afterAll(async () => {
  await http.close();
  await replay.stop();
});

beforeEach(() => {
  clearWbiKeyCache();
  replay.requests.length = 0;
});

afterEach(() => {
  // A request no fixture answers would otherwise hide behind a 404 → upstream_error.
  expect(replay.requests.filter((r) => r.route === null).map((r) => `${r.host}${r.path}?${r.query}`)).toEqual([]);
});

describe('bilibiliExtractor: recorded videos', () => {
  it('BV13L4y1K7th: Dolby Vision video and a Dolby Atmos track', async () => {
    const info = await extract('https://www.bilibili.com/video/BV13L4y1K7th');
    expect(info).toMatchObject({
      platform: 'bilibili',
      id: 'BV13L4y1K7th',
      url: 'https://www.bilibili.com/video/BV13L4y1K7th',
      title: '【杜比视界·全景声】中文演示片｜已更新 需要设备支持 Dolby Atmos 感受身体被360°包围的感觉',
      duration: 110,
      uploader: '4K画质杜比视界体验',
      uploader_id: '384688512',
      upload_date: '2022-05-30',
      view_count: 1431705,
      like_count: 18448,
      thumbnail_url: 'https://i2.hdslb.com/bfs/archive/13dda3214d1bc41efb9dcab95ee05e89905293bb.jpg',
      tags: [],
      is_live: false,
      extractor: 'bilibili',
    });
    expect(info.description).toMatch(/^【双杜比开启·极致体验】/);
    expect(info.subtitles).toBeUndefined();
    const { video = [], audio = [], muxed } = byKind(info.formats);
    expect(video).toHaveLength(19);
    expect(audio).toHaveLength(4);
    expect(muxed).toBeUndefined();
    expect(info.formats.find((f) => f.format_id === 'dash-126-12')).toMatchObject({
      kind: 'video',
      ext: 'mp4',
      vcodec: 'hvc1.2.4.L153.90',
      acodec: null,
      width: 3840,
      height: 2160,
      fps: 60,
      bitrate: 5892062,
      protocol: 'dash',
      note: '杜比视界',
    });
    expect(info.formats.find((f) => f.format_id === 'audio-30250')).toMatchObject({
      kind: 'audio',
      ext: 'm4a',
      vcodec: null,
      acodec: 'ec-3',
      bitrate: 448230,
      note: 'Dolby Atmos',
      url: expect.stringContaining('733892245-1-30250.m4s'),
    });
    expect(new Set(video.map((f) => f.vcodec?.slice(0, 4)))).toEqual(new Set(['hvc1', 'avc1', 'hev1', 'av01']));
    expect(video.filter((f) => f.note === '4K 超清').map((f) => f.format_id)).toEqual([
      'dash-120-7',
      'dash-120-12',
      'dash-120-13',
    ]);
    expect(audio.map((f) => f.format_id)).toEqual(['audio-30280', 'audio-30216', 'audio-30232', 'audio-30250']);
  });

  it('BV13ht2ejE1S: 4096×2160 and a Hi-Res FLAC track', async () => {
    const info = await extract('https://www.bilibili.com/video/BV13ht2ejE1S');
    expect(info).toMatchObject({
      title: '历代驰名第一妖｜《黑神话：悟空》大圣残躯BGM',
      duration: 301,
      upload_date: '2024-09-22',
    });
    const { video = [], audio = [] } = byKind(info.formats);
    expect(video).toHaveLength(18);
    expect(audio).toHaveLength(4);
    expect(video[0]).toMatchObject({ format_id: 'dash-120-12', width: 4096, height: 2160, fps: 25, note: '4K 超清' });
    expect(video.find((f) => f.format_id === 'dash-112-7')).toMatchObject({ vcodec: 'avc1.640032', note: '1080P+' });
    expect(audio.find((f) => f.format_id === 'audio-30251')).toMatchObject({
      acodec: 'fLaC',
      bitrate: 1592578,
      note: 'Hi-Res FLAC',
    });
  });

  it('BV1Et4y1r7Eu: 18 video and 3 audio tracks, UTC+8 upload date, subtitles', async () => {
    const info = await extract('https://www.bilibili.com/video/BV1Et4y1r7Eu');
    expect(info).toMatchObject({
      title: '骁龙888性能分析：翻车！',
      duration: 942,
      uploader: '极客湾Geekerwan',
      // pubdate 1609972193 is 2021-01-06 22:29 UTC, already the 7th in China
      upload_date: '2021-01-07',
    });
    const { video = [], audio = [] } = byKind(info.formats);
    expect(video).toHaveLength(18);
    expect(audio).toHaveLength(3);
    expect(audio.map((f) => [f.format_id, f.note])).toEqual([
      ['audio-30280', '192K'],
      ['audio-30216', '64K'],
      ['audio-30232', '132K'],
    ]);
    expect(new Set(video.map((f) => f.note))).toEqual(new Set(['4K 超清', '1080P60', '1080P', '720P', '480P', '360P']));
    expect(info.subtitles).toEqual({
      'zh-CN': [
        {
          url: expect.stringMatching(/^https:\/\/aisubtitle\.hdslb\.com\/bfs\/subtitle\/65f8c14e/),
          ext: 'json',
          name: '中文（中国）',
        },
      ],
      'ai-zh': [
        {
          url: expect.stringMatching(/^https:\/\/aisubtitle\.hdslb\.com\/bfs\/ai_subtitle\//),
          ext: 'json',
          name: '中文（自动生成）',
          auto: true,
        },
      ],
    });
  });

  it('gives every media format the CDN headers and a size estimate', async () => {
    const info = await extract('https://www.bilibili.com/video/BV1Et4y1r7Eu');
    for (const f of info.formats) {
      expect(f.http_headers).toEqual(MEDIA_HEADERS);
      expect(f.url).toMatch(/^https:\/\/[^/]+\.bilivideo\.(com|cn)(:\d+)?\/.+\.m4s\?/);
    }
    // bandwidth × dash.duration (942 s) / 8
    expect(info.formats.find((f) => f.format_id === 'audio-30216')).toMatchObject({
      filesize: Math.round((67265 * 942) / 8),
      filesize_approx: true,
    });
  });

  it('BV1Ys421M7YM: a paid video returns its preview durl instead of failing', async () => {
    const info = await extract('https://www.bilibili.com/video/BV1Ys421M7YM');
    expect(info).toMatchObject({ title: '日元贬值，谁的钱袋子鼓了？【话饼02】', duration: 4487 });
    expect(info.formats).toEqual([
      {
        format_id: 'durl-32',
        kind: 'muxed',
        ext: 'mp4',
        vcodec: 'avc',
        acodec: 'mp4a',
        width: null,
        height: 480,
        fps: null,
        bitrate: Math.round((60154454 * 8) / 1050.16),
        filesize: 60154454,
        protocol: 'https',
        url: expect.stringMatching(/^https:\/\/xy120x209x212x6xy.*\/1566548814_u1-1-29\.mp4\?/),
        http_headers: MEDIA_HEADERS,
        note: 'preview',
      },
    ]);
  });
});

describe('bilibiliExtractor: API requests', () => {
  it('signs playurl with w_rid and wts computed from the nav keys', async () => {
    const before = Math.floor(Date.now() / 1000);
    await extract('https://www.bilibili.com/video/BV13L4y1K7th');
    const after = Math.floor(Date.now() / 1000);

    expect(requestsTo('/x/web-interface/nav')).toHaveLength(1);
    const [play] = requestsTo(PLAYURL);
    expect(play?.route).toBe('bilibili/api/BV13L4y1K7th.x-player-wbi-playurl.json');
    const q = Object.fromEntries(play!.query);
    expect(q).toMatchObject({ bvid: 'BV13L4y1K7th', cid: '733892245', fnval: '4048', fourk: '1', qn: '127' });
    expect(Number(q.wts)).toBeGreaterThanOrEqual(before);
    expect(Number(q.wts)).toBeLessThanOrEqual(after);

    const { w_rid, ...signed } = q;
    const canonical = Object.keys(signed)
      .sort()
      .map((k) => `${k}=${encodeURIComponent(signed[k]!)}`)
      .join('&');
    expect(w_rid).toBe(
      createHash('md5')
        .update(canonical + NAV_MIXIN_KEY)
        .digest('hex'),
    );

    // the player (subtitles) endpoint is a /wbi/ one as well
    const [player] = requestsTo(PLAYER_V2);
    expect(player?.query.get('cid')).toBe('733892245');
    expect(player?.query.get('w_rid')).toMatch(/^[0-9a-f]{32}$/);
  });

  it('sends the Referer on every API request, and the admin cookie when there is one', async () => {
    await extract('https://www.bilibili.com/video/BV1Et4y1r7Eu', {
      http: http.withCookies((url) => (url.hostname.endsWith('bilibili.com') ? 'SESSDATA=abc; buvid3=xyz' : undefined)),
    });
    const api = replay.requests.filter((r) => r.host === API);
    expect(api.map((r) => r.path).sort()).toEqual([PLAYURL, PLAYER_V2, VIEW, '/x/web-interface/nav'].sort());
    for (const r of api) {
      expect(r.headers.referer).toBe('https://www.bilibili.com/');
      expect(r.headers.cookie).toBe('SESSDATA=abc; buvid3=xyz');
      expect(r.headers['user-agent']).toMatch(/^Mozilla\/5\.0 /);
    }
  });

  it('sends no Cookie without an admin cookie', async () => {
    await extract('https://www.bilibili.com/video/BV1Et4y1r7Eu');
    expect(replay.requests.every((r) => r.headers.cookie === undefined)).toBe(true);
  });

  it('caches the WBI keys between extractions', async () => {
    await extract('https://www.bilibili.com/video/BV1Et4y1r7Eu');
    await extract('https://www.bilibili.com/video/BV13ht2ejE1S');
    expect(requestsTo('/x/web-interface/nav')).toHaveLength(1);
    expect(requestsTo(PLAYURL)).toHaveLength(2);
  });

  it('refetches the WBI keys and retries once after -352 (risk control)', async () => {
    const info = await extract(`https://www.bilibili.com/video/${RISKY}`);
    expect(info.formats).toHaveLength(21);
    expect(requestsTo('/x/web-interface/nav')).toHaveLength(2);
    expect(requestsTo(PLAYURL).map((r) => r.route)).toEqual(['risky-playurl', 'risky-playurl']);
  });
});

describe('bilibiliExtractor: multi-part videos', () => {
  it('part 1 uses the first cid and its duration', async () => {
    const info = await extract(`https://www.bilibili.com/video/${MULTI}`);
    expect(info).toMatchObject({
      id: MULTI,
      url: `https://www.bilibili.com/video/${MULTI}`,
      title: '把《黑神话：悟空》剪成电影！无UI超宽画幅【4K60】！ P1 上集',
      duration: 6291,
    });
    expect(requestsTo(PLAYURL)[0]?.query.get('cid')).toBe(String(MULTI_CIDS.p1));
    // its player endpoint answers 500: no subtitles, but the extraction stands
    expect(requestsTo(PLAYER_V2)[0]?.route).toBe('multi-p1-player-broken');
    expect(info.subtitles).toBeUndefined();
    expect(info.formats).toHaveLength(22);
  });

  it('?p=2 uses the second cid and its duration', async () => {
    const info = await extract(`https://www.bilibili.com/video/${MULTI}?p=2`);
    expect(info).toMatchObject({
      url: `https://www.bilibili.com/video/${MULTI}?p=2`,
      title: '把《黑神话：悟空》剪成电影！无UI超宽画幅【4K60】！ P2 下集',
      duration: 7861,
    });
    expect(requestsTo(PLAYURL).map((r) => [r.route, r.query.get('cid')])).toEqual([
      ['multi-p2-playurl', String(MULTI_CIDS.p2)],
    ]);
    expect(info.formats).toHaveLength(21);
  });

  it('a part that does not exist is not_found', async () => {
    const err = await extractError(`https://www.bilibili.com/video/${MULTI}?p=3`);
    expect(err.code).toBe('not_found');
    expect(requestsTo(PLAYURL)).toHaveLength(0);
  });
});

describe('bilibiliExtractor: errors', () => {
  it('BV1UnExisted (view code -400) is not_found', async () => {
    const err = await extractError('https://www.bilibili.com/video/BV1UnExisted');
    expect(err.code).toBe('not_found');
    expect(err.details).toMatchObject({ endpoint: 'view', code: -400, message: '请求错误' });
    expect(requestsTo(PLAYURL)).toHaveLength(0);
  });

  it.each(VIEW_ERRORS)('view code %d (%s) → %s', async (code, message, expected) => {
    const err = await extractError(`https://www.bilibili.com/video/${errorBvid(code)}`);
    expect(err.code).toBe(expected);
    expect(err.details).toEqual({ endpoint: 'view', code, message });
  });

  it('playurl code 87008 (supporters only) is payment_required', async () => {
    const err = await extractError(`https://www.bilibili.com/video/${PAID}`);
    expect(err.code).toBe('payment_required');
    expect(err.details).toMatchObject({ endpoint: 'playurl', code: 87008 });
  });
});

describe('bilibiliExtractor: b23.tv short links', () => {
  it('lists b23.tv as a short-link host', () => {
    expect(bilibiliExtractor.shortLinkHosts).toContain('b23.tv');
  });

  it('follows the redirect without fetching the video page', async () => {
    const t = await bilibiliExtractor.resolveShortLink!(new URL('https://b23.tv/abc123'), ctx());
    expect(t).toEqual({
      platform: 'bilibili',
      kind: 'video',
      id: 'BV1Et4y1r7Eu',
      url: 'https://www.bilibili.com/video/BV1Et4y1r7Eu',
    });
    expect(replay.requests.map((r) => `${r.host}${r.path}`)).toEqual(['b23.tv/abc123']);
  });

  it('keeps the part of an av link', async () => {
    const t = await bilibiliExtractor.resolveShortLink!(new URL('https://b23.tv/part2'), ctx());
    expect(t).toMatchObject({ id: MULTI, url: `https://www.bilibili.com/video/${MULTI}?p=2`, hints: { page: '2' } });
  });

  it('maps a dead link to not_found and a non-video target to unsupported_url', async () => {
    const resolve = (p: string) => bilibiliExtractor.resolveShortLink!(new URL(`https://b23.tv/${p}`), ctx());
    await expect(resolve('dead')).rejects.toMatchObject({ code: 'not_found' });
    await expect(resolve('space')).rejects.toMatchObject({ code: 'unsupported_url' });
  });
});
