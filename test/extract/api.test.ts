/**
 * The extraction HTTP API end to end: the real server (in-process, PGlite in
 * memory) with every platform request answered by the replay server from
 * recorded bytes, and the generic engine running the real yt-dlp against
 * media served on 127.0.0.1. Expected values are read from the fixtures.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { avToBv } from '../../src/extract/bilibili/url.js';
import { makeMedia, type MediaFile } from '../support/media.js';
import { startMediaServer, type MediaServer } from '../support/media-server.js';
import { FIXTURES_DIR, startReplayServer, type ReplayRoute, type ReplayServer } from '../support/replay-server.js';
import { startTestServer, type TestServer } from '../support/server.js';

// ---------------------------------------------------------------- fixtures

const fixtureText = (file: string): string => readFileSync(path.join(FIXTURES_DIR, file), 'utf8');

const fixtureJson = (file: string): any => JSON.parse(fixtureText(file));

const YT_ID = '7PIMiDcwNvc';
const YT_URL = `https://www.youtube.com/watch?v=${YT_ID}`;
const YT_REEL = `youtube/innertube-2026/${YT_ID}.android.reel_item_watch.response.json`;
const ytAndroid = fixtureJson(YT_REEL).playerResponse;
const ytVisionos = fixtureJson(`youtube/innertube-2026/${YT_ID}.visionos.player.response.json`);
const YT = {
  title: ytVisionos.videoDetails.title as string,
  duration: Number(ytVisionos.videoDetails.lengthSeconds),
  // itag 18 (the only format with a URL) from ANDROID + every adaptive format from VISIONOS
  formats:
    (ytAndroid.streamingData.formats as unknown[]).length +
    (ytVisionos.streamingData.adaptiveFormats as unknown[]).length,
};

const BV = 'BV1Et4y1r7Eu';
const BV_URL = `https://www.bilibili.com/video/${BV}`;
const BV_VIEW = `bilibili/api/${BV}.x-web-interface-view.json`;
const bvView = fixtureJson(BV_VIEW).data;
const bvPlay = fixtureJson(`bilibili/api/${BV}.x-player-wbi-playurl.json`).data;
const BILI = {
  title: bvView.title as string,
  duration: bvView.duration as number,
  aid: bvView.aid as number,
  formats: (bvPlay.dash.video as unknown[]).length + (bvPlay.dash.audio as unknown[]).length,
  heights: [...new Set((bvPlay.dash.video as { height: number }[]).map((v) => v.height))].sort((a, b) => b - a),
};

const VOD_ID = '2404782496';
const VOD_URL = `https://www.twitch.tv/videos/${VOD_ID}`;
const USHER_VOD = 'twitch/usher/vod-master.streamlink-test.m3u8';
const vodMeta = fixtureJson('twitch/gql/VideoMetadata.4-empty-channel-login.json').data.video;
const VOD = {
  title: vodMeta.title as string,
  duration: Number(vodMeta.lengthSeconds),
  formats: fixtureText(USHER_VOD).match(/^#EXT-X-STREAM-INF:/gm)!.length,
};
const CLIP_SLUG = 'DeliciousDelightfulPicklesWOOP';
const CLIP_URL = `https://clips.twitch.tv/${CLIP_SLUG}`;
const clipData = fixtureJson(`twitch/gql-raw/clip.${CLIP_SLUG}.json`).data.clip;
const CLIP = {
  title: clipData.title as string,
  duration: clipData.durationSeconds as number,
  formats: (clipData.videoQualities as unknown[]).length,
};

const TT_ID = '7660566211100511518';
const TT_URL = `https://www.tiktok.com/@mysticaquariumct/video/${TT_ID}`;
const TT_CANONICAL = `https://www.tiktok.com/@i/video/${TT_ID}`;
const ttItem = JSON.parse(
  /<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__"[^>]*>([\s\S]*?)<\/script>/.exec(
    fixtureText(`tiktok/${TT_ID}.video.html`),
  )![1]!,
).__DEFAULT_SCOPE__['webapp.video-detail'].itemInfo.itemStruct;
const TT = {
  title: ttItem.desc as string,
  duration: ttItem.video.duration as number,
  // every bitrateInfo rendition, plus the page's playAddr and downloadAddr
  formats: (ttItem.video.bitrateInfo as unknown[]).length + 2,
};

// Made-up (well-formed) BiliBili ids for the answers the fixtures do not have.
const BV_500 = avToBv(990_500);
const BV_SLOW = avToBv(990_504);
const SLOW_MS = 3000;

const VIEW_PATH = '/x/web-interface/view';
const extraRoutes: ReplayRoute[] = [
  {
    name: 'usher vod',
    method: 'GET',
    host: 'usher.ttvnw.net',
    path: `/vod/${VOD_ID}.m3u8`,
    contentType: 'application/vnd.apple.mpegurl',
    file: USHER_VOD,
  },
  {
    name: 'view 500',
    method: 'GET',
    host: 'api.bilibili.com',
    path: VIEW_PATH,
    match: { 'query.bvid': BV_500 },
    status: 500,
    contentType: 'text/html',
    body: '<html><body>500 Internal Server Error</body></html>',
  },
  {
    name: 'view slow',
    method: 'GET',
    host: 'api.bilibili.com',
    path: VIEW_PATH,
    match: { 'query.bvid': BV_SLOW },
    file: BV_VIEW,
    delayMs: SLOW_MS,
  },
];

// ---------------------------------------------------------------- helpers

interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

interface Reply<T> {
  status: number;
  headers: Headers;
  body: T;
}

async function call<T = any>(server: TestServer, urlPath: string, init?: RequestInit): Promise<Reply<T>> {
  const res = await server.fetch(server.url + urlPath, init);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${urlPath}: not JSON (HTTP ${res.status}): ${text.slice(0, 200)}`);
  }
  return { status: res.status, headers: res.headers, body: body as T };
}

const info = (server: TestServer, url: string, extra = '') =>
  call(server, `/api/v2/videos/info?url=${encodeURIComponent(url)}${extra}`);

/** The error contract: the status, the code, and nothing but {error:{code,message,details?}}. */
function expectError(r: Reply<unknown>, status: number, code: string): ErrorBody['error'] {
  expect({ status: r.status, body: r.body }).toMatchObject({ status, body: { error: { code } } });
  expect(r.headers.get('content-type')).toMatch(/^application\/json/);
  const body = r.body as ErrorBody;
  expect(Object.keys(body)).toEqual(['error']);
  for (const k of Object.keys(body.error)) expect(['code', 'message', 'details']).toContain(k);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(JSON.stringify(body)).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);
  return body.error;
}

const hits = (replay: ReplayServer, name: string) => replay.hitCount(name);

/** The YouTube URL padded with a noise parameter to exactly `length` characters. */
function longUrl(length: number): string {
  const base = `${YT_URL}&x=`;
  const url = base + 'a'.repeat(length - base.length);
  expect(url).toHaveLength(length);
  return url;
}

// ---------------------------------------------------------------- setup

let replay: ReplayServer;
/** YTBH_UPSTREAM_REWRITE only: the default, strict configuration. */
let server: TestServer;
/** Also ALLOW_PRIVATE_ADDRESSES (yt-dlp on 127.0.0.1) and a 500 ms upstream deadline. */
let local: TestServer;
let mediaDir: string;
let media: MediaServer;
let mp4: MediaFile;

beforeAll(async () => {
  // YouTube: youtubei.js sends its own client versions.
  replay = await startReplayServer(extraRoutes, ['body.context.client.clientVersion']);
  mediaDir = await mkdtemp(path.join(os.tmpdir(), 'ytbh-api-'));
  [server, local, mp4] = await Promise.all([
    startTestServer('embedded', { YTBH_UPSTREAM_REWRITE: replay.url }),
    startTestServer('embedded', {
      YTBH_UPSTREAM_REWRITE: replay.url,
      ALLOW_PRIVATE_ADDRESSES: 'true',
      UPSTREAM_TIMEOUT_MS: '500',
    }),
    makeMedia(mediaDir, { durationS: 3, width: 320, height: 240, kind: 'muxed', container: 'mp4' }),
  ]);
  media = await startMediaServer(mediaDir);
});

afterAll(async () => {
  await Promise.all([server?.close(), local?.close()]);
  await media?.stop();
  await replay?.stop();
  if (mediaDir) await rm(mediaDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------- tests

describe('GET /api/v2/videos/info: one URL per platform, from recorded answers', () => {
  it('YouTube 7PIMiDcwNvc', async () => {
    const r = await info(server, YT_URL);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      platform: 'youtube',
      id: YT_ID,
      url: YT_URL,
      title: 'Marzia & Felix - Wedding 19.08.2019',
      duration: 381,
      uploader: 'PewDiePie',
      upload_date: '2019-08-24',
      is_live: false,
      extractor: 'youtube',
    });
    expect(r.body).toMatchObject({ title: YT.title, duration: YT.duration });
    expect(r.body.formats).toHaveLength(YT.formats);
    expect(
      r.body.formats.filter((f: { kind: string }) => f.kind === 'muxed').map((f: { format_id: string }) => f.format_id),
    ).toEqual(['18']);
  });

  it('BiliBili BV1Et4y1r7Eu, every format with the CDN Referer', async () => {
    const r = await info(server, BV_URL);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      platform: 'bilibili',
      id: BV,
      url: BV_URL,
      title: '骁龙888性能分析：翻车！',
      duration: 942,
      uploader: bvView.owner.name,
      uploader_id: String(bvView.owner.mid),
      view_count: bvView.stat.view,
      like_count: bvView.stat.like,
      upload_date: '2021-01-07',
      extractor: 'bilibili',
    });
    expect(r.body).toMatchObject({ title: BILI.title, duration: BILI.duration });
    expect(r.body.formats).toHaveLength(BILI.formats);
    for (const f of r.body.formats) {
      expect(f.http_headers).toMatchObject({ Referer: 'https://www.bilibili.com' });
    }
  });

  it('Twitch VOD 2404782496', async () => {
    const r = await info(server, VOD_URL);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      platform: 'twitch',
      id: VOD_ID,
      url: VOD_URL,
      title: 'Creator Camp LIVE: Streaming Basics with @Snackless & @KawaiiGuy',
      duration: 4621,
      extractor: 'twitch',
    });
    expect(r.body).toMatchObject({ title: VOD.title, duration: VOD.duration });
    expect(r.body.formats).toHaveLength(VOD.formats);
    expect(r.body.formats.map((f: { format_id: string }) => f.format_id)).toEqual([
      '1080p',
      '720p60',
      '720p30',
      '480p30',
      'audio_only',
      '360p30',
      '160p30',
    ]);
  });

  it('Twitch clip', async () => {
    const r = await info(server, CLIP_URL);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      platform: 'twitch',
      id: CLIP_SLUG,
      url: CLIP_URL,
      title: 'xqc makes the wrong choice',
      duration: 44,
      uploader_id: 'xqc',
    });
    expect(r.body).toMatchObject({ title: CLIP.title, duration: CLIP.duration });
    expect(r.body.formats).toHaveLength(CLIP.formats);
  });

  it('TikTok 7660566211100511518', async () => {
    const r = await info(server, TT_URL);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      platform: 'tiktok',
      id: TT_ID,
      url: TT_CANONICAL,
      title: 'Duck’s fish era has officially begun. 🐟✨',
      duration: 67,
      uploader_id: 'mysticaquariumct',
      extractor: 'tiktok',
    });
    expect(r.body).toMatchObject({ title: TT.title, duration: TT.duration });
    expect(r.body.formats).toHaveLength(TT.formats);
  });
});

describe('other ways to ask', () => {
  it('x-cache: miss, then hit with the same body', async () => {
    const first = await info(server, CLIP_URL, '&refresh=true');
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('miss');
    const second = await info(server, CLIP_URL);
    expect(second.status).toBe(200);
    expect(second.headers.get('x-cache')).toBe('hit');
    expect(second.body).toEqual(first.body);
  });

  it('POST /api/v2/videos/info with a JSON body', async () => {
    const r = await call(server, '/api/v2/videos/info', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: TT_URL, refresh: true }),
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-cache')).toBe('miss');
    expect(r.body).toMatchObject({ platform: 'tiktok', id: TT_ID, title: TT.title, duration: TT.duration });
    expect(r.body.formats).toHaveLength(TT.formats);
  });

  it('GET /api/v2/videos/formats', async () => {
    const r = await call(server, `/api/v2/videos/formats?url=${encodeURIComponent(BV_URL)}`);
    expect(r.status).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(['duration', 'formats', 'id', 'platform', 'title']);
    expect(r.body).toMatchObject({ platform: 'bilibili', id: BV, title: BILI.title, duration: BILI.duration });
    expect(r.body.formats).toHaveLength(BILI.formats);
    expect(r.body.formats.filter((f: { kind: string }) => f.kind === 'audio')).toHaveLength(bvPlay.dash.audio.length);
  });

  it('GET /api/v2/videos/{platform}/{id}', async () => {
    const bili = await call(server, `/api/v2/videos/bilibili/${BV}`);
    expect(bili.status).toBe(200);
    expect(bili.body).toMatchObject({ platform: 'bilibili', id: BV, url: BV_URL, title: BILI.title, duration: 942 });

    const cases: [string, string, string][] = [
      ['youtube', YT_ID, YT.title],
      ['twitch', VOD_ID, VOD.title],
      ['twitch', CLIP_SLUG, CLIP.title],
      ['tiktok', TT_ID, TT.title],
    ];
    for (const [platform, id, title] of cases) {
      const r = await call(server, `/api/v2/videos/${platform}/${id}`);
      expect({ path: `${platform}/${id}`, status: r.status }).toEqual({ path: `${platform}/${id}`, status: 200 });
      expect(r.body).toMatchObject({ platform, id, title });
    }
  });

  it('the av form of a BiliBili URL is the same video and a cache hit', async () => {
    await call(server, `/api/v2/videos/bilibili/${BV}`); // cached by now, whatever ran before
    const views = hits(replay, BV_VIEW);
    const r = await info(server, `https://www.bilibili.com/video/av${BILI.aid}`);
    expect(r.status).toBe(200);
    expect(r.headers.get('x-cache')).toBe('hit');
    expect(r.body).toMatchObject({ id: BV, url: BV_URL, title: BILI.title });
    expect(hits(replay, BV_VIEW)).toBe(views);
  });

  it('youtu.be, m., shorts and si= noise: one canonical URL, one upstream extraction', async () => {
    const before = hits(replay, YT_REEL);
    const fresh = await info(server, YT_URL, '&refresh=true');
    expect(fresh.status).toBe(200);
    expect(hits(replay, YT_REEL)).toBe(before + 1);
    const forms = [
      `https://youtu.be/${YT_ID}?si=Xk3mP0qL8aBcD_ef`,
      `https://m.youtube.com/watch?v=${YT_ID}&si=abc&feature=share`,
      `https://www.youtube.com/shorts/${YT_ID}?si=noise`,
      `https://youtube.com/watch?v=${YT_ID}&t=42s&si=more-noise`,
    ];
    for (const form of forms) {
      const r = await info(server, form);
      expect({ form, status: r.status, cache: r.headers.get('x-cache') }).toEqual({ form, status: 200, cache: 'hit' });
      expect(r.body.url).toBe(YT_URL);
      expect(r.body).toEqual(fresh.body);
    }
    expect(hits(replay, YT_REEL)).toBe(before + 1);
  });

  it('different forms asked at once share one extraction', async () => {
    const before = hits(replay, YT_REEL);
    const forms = [
      YT_URL,
      `https://youtu.be/${YT_ID}`,
      `https://m.youtube.com/watch?v=${YT_ID}`,
      `https://www.youtube.com/shorts/${YT_ID}`,
    ];
    // refresh skips the cache read, so every request reaches the single-flight
    const replies = await Promise.all(forms.map((f) => info(server, f, '&refresh=true')));
    for (const r of replies) {
      expect(r.status).toBe(200);
      expect(r.body.url).toBe(YT_URL);
    }
    expect(hits(replay, YT_REEL)).toBe(before + 1);
  });
});

describe('errors: status, code and the one error body', () => {
  it.each([
    ['YouTube private', 404, 'private', 'https://www.youtube.com/watch?v=8VajtrESJzA'],
    ['YouTube members-only', 402, 'payment_required', 'https://www.youtube.com/watch?v=ayI2iBwGdxw'],
    ['YouTube region-blocked', 451, 'region_blocked', 'https://www.youtube.com/watch?v=_PL2HJKxnOM'],
    ['YouTube nonexistent', 404, 'not_found', 'https://www.youtube.com/watch?v=don-t-exist'],
    ['BiliBili nonexistent', 404, 'not_found', 'https://www.bilibili.com/video/BV1UnExisted'],
    ['TikTok deleted', 404, 'not_found', 'https://www.tiktok.com/@i/video/7660566211100511517'],
  ] as const)('%s → %i %s', async (_name, status, code, url) => {
    const r = await info(server, url);
    expectError(r, status, code);
    expect(r.headers.get('x-cache')).toBeNull();
  });

  it('the recorded reasons reach the client', async () => {
    const r = await info(server, 'https://www.youtube.com/watch?v=_PL2HJKxnOM');
    expect(expectError(r, 451, 'region_blocked').message).toBe(
      'The uploader has not made this video available in your country',
    );
    const t = await info(server, 'https://www.tiktok.com/@i/video/7660566211100511517');
    expect(expectError(t, 404, 'not_found').details).toMatchObject({ statusCode: 10204 });
  });

  it.each([
    ['ftp://x', 'ftp://x'],
    ['a 2049-character URL', longUrl(2049)],
    ['a loopback generic URL (SSRF)', 'http://127.0.0.1:1/x'],
    ['localhost (SSRF)', 'http://localhost:1/x'],
  ])('%s → 400 invalid_url', async (_name, url) => {
    const seen = replay.requests.length;
    expectError(await info(server, url), 400, 'invalid_url');
    expect(replay.requests.length).toBe(seen);
  });

  it('2048 characters is still accepted as a URL', async () => {
    const url = longUrl(2048);
    const r = await info(server, url);
    expect(r.status).toBe(200);
    expect(r.body.url).toBe(YT_URL);
  });

  it('an upstream 500 → 502 upstream_error', async () => {
    const r = await info(server, `https://www.bilibili.com/video/${BV_500}`);
    const err = expectError(r, 502, 'upstream_error');
    expect(err.details).toMatchObject({ status: 500 });
    expect(hits(replay, 'view 500')).toBe(1);
  });

  it('an upstream slower than UPSTREAM_TIMEOUT_MS → 504 upstream_timeout, without waiting for it', async () => {
    const started = Date.now();
    const r = await info(local, `https://www.bilibili.com/video/${BV_SLOW}`);
    const elapsed = Date.now() - started;
    expectError(r, 504, 'upstream_timeout');
    expect(hits(replay, 'view slow')).toBe(1);
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(SLOW_MS - 500);
  });

  it('a generic non-local URL while YTBH_UPSTREAM_REWRITE is on → 502, refused before any attempt', async () => {
    const cache = server.services.cache;
    const window = Math.floor(Date.now() / 60_000); // the generic budget is n/60 s
    const budgetKeys = [`platform_limit:generic:${window}`, `platform_limit:generic:${window + 1}`];
    const before = await Promise.all(budgetKeys.map((k) => cache.get(k)));
    const seen = replay.requests.length;

    const started = Date.now();
    const r = await info(server, 'http://93.184.216.34/v');
    const err = expectError(r, 502, 'upstream_error');
    expect(err.message).toMatch(/YTBH_UPSTREAM_REWRITE/);
    expect(Date.now() - started).toBeLessThan(2000);
    // Refused before the outbound budget is taken, which comes before yt-dlp is started.
    expect(await Promise.all(budgetKeys.map((k) => cache.get(k)))).toEqual(before);
    expect(replay.requests.length).toBe(seen);
  });

  it('validation and routing errors use the same body', async () => {
    expectError(await call(server, '/api/v2/videos/info'), 400, 'validation_failed');
    expectError(await call(server, '/api/v2/videos/nowhere/abc'), 400, 'validation_failed');
    expectError(
      await call(server, '/api/v2/videos/info', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ url: 'ftp://x' }),
      }),
      400,
      'invalid_url',
    );
    expectError(await call(server, `/api/v2/videos/generic/abc`), 400, 'unsupported_url');
  });
});

describe('the videos table', () => {
  const rowsFor = (url: string) =>
    server.services.database.db.selectFrom('videos').selectAll().where('url', '=', url).execute();

  it('holds the seed columns and metadata after an extraction, and refresh updates the row', async () => {
    const first = await info(server, BV_URL, '&refresh=true');
    expect(first.status).toBe(200);
    const rows = await rowsFor(BV_URL);
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row).toMatchObject({
      platform: 'bilibili',
      video_id: BV,
      url: BV_URL,
      title: BILI.title,
      duration: 942,
      upload_date: '2021-01-07',
      uploader: bvView.owner.name,
      view_count: bvView.stat.view,
      like_count: bvView.stat.like,
      is_live: false,
    });
    expect(row.metadata).toMatchObject({
      extractor: 'bilibili',
      format_count: BILI.formats,
      page_url: BV_URL,
      subtitle_languages: expect.arrayContaining(['zh-CN']),
    });

    await new Promise((r) => setTimeout(r, 20));
    const again = await info(server, BV_URL, '&refresh=true');
    expect(again.status).toBe(200);
    expect(again.headers.get('x-cache')).toBe('miss');
    const after = await rowsFor(BV_URL);
    expect(after).toHaveLength(1);
    expect(after[0]!.id).toBe(row.id);
    expect(after[0]!.created_at).toEqual(row.created_at);
    expect(new Date(after[0]!.updated_at).getTime()).toBeGreaterThan(new Date(row.updated_at).getTime());
    // the av form is the same canonical URL: still one row
    await info(server, `https://www.bilibili.com/video/av${BILI.aid}`, '&refresh=true');
    expect(await rowsFor(BV_URL)).toHaveLength(1);
    const all = await server.services.database.db
      .selectFrom('videos')
      .select(['url'])
      .where('platform', '=', 'bilibili')
      .where('video_id', '=', BV)
      .execute();
    expect(all).toEqual([{ url: BV_URL }]);
  });

  it('stores one row per platform video under its canonical URL', async () => {
    await info(server, TT_URL);
    const rows = await rowsFor(TT_CANONICAL);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ platform: 'tiktok', video_id: TT_ID, title: TT.title, duration: TT.duration });
    expect(rows[0]!.metadata).toMatchObject({ extractor: 'tiktok', format_count: TT.formats });
  });
});

describe('legacy API', () => {
  const legacyInfo = {
    id: BV,
    title: BILI.title,
    description: bvView.desc,
    duration: 942,
    uploader: bvView.owner.name,
    upload_date: '20210107',
    view_count: bvView.stat.view,
    like_count: bvView.stat.like,
    thumbnail: (bvView.pic as string).replace(/^http:/, 'https:'),
  };

  it('GET /api/info', async () => {
    const r = await call(server, `/api/info?url=${encodeURIComponent(BV_URL)}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      platform: 'bilibili',
      video_id: BV,
      info: legacyInfo,
      stream_available: true,
      success: true,
    });
  });

  it('GET /api/formats', async () => {
    const r = await call(server, `/api/formats?url=${encodeURIComponent(BV_URL)}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      platform: 'bilibili',
      video_id: BV,
      available_qualities: ['highest', 'lowest', ...BILI.heights.map((h) => `${h}p`)],
      recommended_quality: 'highest',
      video_info: legacyInfo,
      success: true,
    });
  });

  it('GET /api/info for YouTube and TikTok', async () => {
    const yt = await call(server, `/api/info?url=${encodeURIComponent(`https://youtu.be/${YT_ID}`)}`);
    expect(yt.status).toBe(200);
    expect(yt.body).toMatchObject({
      platform: 'youtube',
      video_id: YT_ID,
      info: { id: YT_ID, title: YT.title, duration: 381, upload_date: '20190824', uploader: 'PewDiePie' },
      stream_available: true,
      success: true,
    });
    expect(Object.keys(yt.body.info).sort()).toEqual([
      'description',
      'duration',
      'id',
      'like_count',
      'thumbnail',
      'title',
      'upload_date',
      'uploader',
      'view_count',
    ]);
    const tt = await call(server, `/api/info?url=${encodeURIComponent(TT_URL)}`);
    expect(tt.body).toMatchObject({ platform: 'tiktok', video_id: TT_ID, info: { title: TT.title, duration: 67 } });
    expect(tt.body.info.upload_date).toMatch(/^\d{8}$/);
  });

  it('errors keep the v2 body', async () => {
    expectError(await call(server, `/api/info?url=${encodeURIComponent('ftp://x')}`), 400, 'invalid_url');
    expectError(
      await call(server, `/api/formats?url=${encodeURIComponent('https://www.bilibili.com/video/BV1UnExisted')}`),
      404,
      'not_found',
    );
  });

  it('GET /api/platforms', async () => {
    const r = await call(server, '/api/platforms');
    expect(r.status).toBe(200);
    expect(r.body.total_platforms).toBe(5);
    expect(r.body.supported_platforms.map((p: { platform_id: string }) => p.platform_id)).toEqual([
      'youtube',
      'bilibili',
      'twitch',
      'tiktok',
      'generic',
    ]);
    for (const p of r.body.supported_platforms) {
      expect(p).toMatchObject({
        name: expect.any(String),
        domains: expect.any(Array),
        example_urls: expect.any(Array),
        features: expect.arrayContaining(['info', 'formats']),
      });
    }
    const tiktok = r.body.supported_platforms.find((p: { platform_id: string }) => p.platform_id === 'tiktok');
    expect(tiktok.features).not.toContain('playlists');
    expect(r.body.simple_endpoints).toHaveLength(3);
  });
});

describe('GET /api/v2/platforms', () => {
  it('lists the five platforms with their capabilities', async () => {
    const r = await call(server, '/api/v2/platforms');
    expect(r.status).toBe(200);
    const platforms = r.body.platforms as { platform: string; engine: string; capabilities: Record<string, boolean> }[];
    expect(platforms.map((p) => p.platform)).toEqual(['youtube', 'bilibili', 'twitch', 'tiktok', 'generic']);
    for (const p of platforms) {
      expect(Object.keys(p.capabilities).sort()).toEqual(['download', 'formats', 'info', 'playlists', 'stream']);
      expect(p.capabilities.info).toBe(true);
      expect(p.engine).toBe(p.platform === 'generic' ? 'yt-dlp' : 'native');
    }
    expect(platforms.find((p) => p.platform === 'tiktok')!.capabilities.playlists).toBe(false);
    expect(platforms.find((p) => p.platform === 'youtube')!.capabilities.playlists).toBe(true);
  });
});

describe('generic engine through the API (real yt-dlp, media on 127.0.0.1)', () => {
  const clipId = () => mp4.name.replace(/\.mp4$/, '');

  it('GET /api/v2/videos/info for a direct mp4', async () => {
    const url = `${media.url}/${mp4.name}`;
    const r = await info(local, url);
    expect(r.status).toBe(200);
    expect(r.headers.get('x-cache')).toBe('miss');
    expect(r.body).toMatchObject({ platform: 'generic', id: clipId(), extractor: 'ytdlp:Generic', is_live: false });
    expect(Math.abs(r.body.duration - 3)).toBeLessThan(0.2);
    expect(r.body.formats).toHaveLength(1);
    expect(r.body.formats[0]).toMatchObject({ kind: 'muxed', ext: 'mp4', width: 320, height: 240, url });

    const again = await info(local, url);
    expect(again.headers.get('x-cache')).toBe('hit');
    const rows = await local.services.database.db.selectFrom('videos').selectAll().where('url', '=', url).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ platform: 'generic', duration: 3 });
  });

  it('GET /api/v2/playlists/info for the same URL: a one-entry playlist', async () => {
    const url = `${media.url}/${mp4.name}`;
    const r = await call(local, `/api/v2/playlists/info?url=${encodeURIComponent(url)}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      platform: 'generic',
      id: clipId(),
      title: clipId(),
      uploader: null,
      entries: [{ id: clipId(), url, title: clipId(), duration: null }],
      next_page: null,
    });
  });

  it('a missing file → 404 not_found from yt-dlp', async () => {
    expectError(await info(local, `${media.url}/missing.mp4`), 404, 'not_found');
  });
});
