import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../../src/errors/app-error.js';
import type { ExtractContext } from '../../../src/extract/extractor.js';
import { CLIP_QUERY, WEB_CLIENT_ID, type GqlVideo } from '../../../src/extract/twitch/gql.js';
import { twitchExtractor, vodInfo } from '../../../src/extract/twitch/extractor.js';
import { twitchTarget } from '../../../src/extract/twitch/url.js';
import { HttpClient } from '../../../src/infra/http-client/http-client.js';
import {
  FIXTURES_DIR,
  startReplayServer,
  type RecordedRequest,
  type ReplayRoute,
  type ReplayServer,
} from '../../support/replay-server.js';

const VOD_ID = '2404782496';
const CLIP_SLUG = 'DeliciousDelightfulPicklesWOOP';
const M3U8 = 'application/vnd.apple.mpegurl';

const fixtureJson = <T>(file: string): T => JSON.parse(readFileSync(path.join(FIXTURES_DIR, file), 'utf8')) as T;
const vodToken = fixtureJson<{ data: { videoPlaybackAccessToken: { value: string; signature: string } } }>(
  'twitch/gql/PlaybackAccessToken.1-vod.json',
).data.videoPlaybackAccessToken;

/** The index only has usher URL templates; these answer the concrete requests. */
const usherRoutes: ReplayRoute[] = [
  {
    name: 'usher vod',
    method: 'GET',
    host: 'usher.ttvnw.net',
    path: `/vod/${VOD_ID}.m3u8`,
    contentType: M3U8,
    file: 'twitch/usher/vod-master.streamlink-test.m3u8',
  },
  {
    name: 'usher live',
    method: 'GET',
    host: 'usher.ttvnw.net',
    path: '/api/v2/channel/hls/forsen.m3u8',
    contentType: M3U8,
    file: 'twitch/usher/live-multivariant-usher-v2.streamlink-test.m3u8',
  },
];

/** A GQL route that beats the index route for the same operation (more predicates, added later). */
function gqlRoute(
  name: string,
  match: Record<string, unknown>,
  answer: Pick<ReplayRoute, 'file' | 'body'>,
): ReplayRoute {
  return {
    name,
    method: 'POST',
    host: 'gql.twitch.tv',
    path: '/gql',
    match: { 'body.extensions.persistedQuery.version': 1, ...match },
    ...answer,
  };
}

async function setup(extra: ReplayRoute[] = []) {
  const replay = await startReplayServer([...usherRoutes, ...extra]);
  const http = new HttpClient({ upstreamRewrite: replay.url });
  const ctx: ExtractContext = { http, log: pino({ level: 'silent' }) };
  const close = async () => {
    await http.close();
    await replay.stop();
  };
  return { replay, http, ctx, close };
}

async function extractUrl(ctx: ExtractContext, url: string) {
  const target = twitchExtractor.match(new URL(url));
  if (!target) throw new Error(`no match for ${url}`);
  return twitchExtractor.extract(target, ctx);
}

async function errorCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (isAppError(err)) return err.code;
    throw err;
  }
  throw new Error('expected an AppError');
}

const gqlRequests = (replay: ReplayServer): RecordedRequest[] =>
  replay.requests.filter((r) => r.host === 'gql.twitch.tv');

describe('twitch extractor against recorded responses', () => {
  let env: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => {
    env = await setup();
  });
  afterAll(async () => env.close());

  describe('VOD', () => {
    it('maps VideoMetadata and the usher master playlist', async () => {
      const info = await extractUrl(env.ctx, `https://www.twitch.tv/videos/${VOD_ID}`);
      expect(info).toMatchObject({
        platform: 'twitch',
        id: VOD_ID,
        url: `https://www.twitch.tv/videos/${VOD_ID}`,
        title: 'Creator Camp LIVE: Streaming Basics with @Snackless & @KawaiiGuy',
        description: null,
        duration: 4621,
        uploader: 'Twitch',
        uploader_id: 'twitch',
        upload_date: '2025-03-13',
        view_count: 163669,
        like_count: null,
        thumbnail_url:
          'https://static-cdn.jtvnw.net/cf_vods/d2nvs31859zcd8/4087ab6ee325487ff1cb_twitch_317752962300_1741891679//thumb/thumb0-90x60.jpg',
        tags: ['Just Chatting'],
        is_live: false,
        extractor: 'twitch',
      });
      expect(info.formats.map((f) => f.format_id)).toEqual([
        '1080p',
        '720p60',
        '720p30',
        '480p30',
        'audio_only',
        '360p30',
        '160p30',
      ]);
      expect(info.formats[1]).toMatchObject({
        kind: 'muxed',
        protocol: 'hls',
        height: 720,
        fps: 60,
        url: 'https://usher.ttvnw.net/vod/720p60.m3u8',
      });
    });

    it('sends recorded persisted queries with the web Client-Id', async () => {
      const before = env.replay.requests.length;
      await extractUrl(env.ctx, `https://www.twitch.tv/videos/${VOD_ID}`);
      const gql = gqlRequests(env.replay).slice(-2);
      expect(env.replay.requests.length - before).toBe(3);
      expect(gql.map((r) => r.route).sort()).toEqual([
        'twitch/gql/PlaybackAccessToken.1-vod.json',
        'twitch/gql/VideoMetadata.4-empty-channel-login.json',
      ]);
      for (const r of gql) {
        expect(r.headers['client-id']).toBe(WEB_CLIENT_ID);
        expect(r.headers['x-upstream-host']).toBe('gql.twitch.tv');
      }
    });

    it('passes the token value and signature to usher verbatim', async () => {
      await extractUrl(env.ctx, `https://m.twitch.tv/videos/${VOD_ID}`);
      const usher = env.replay.requests.filter((r) => r.route === 'usher vod').at(-1)!;
      expect(usher.query.get('nauth')).toBe(vodToken.value);
      expect(usher.query.get('nauthsig')).toBe('9690cf56645d367ba0f7799ea5a3cfaae30a8818');
      expect(Object.fromEntries([...usher.query].filter(([k]) => !k.startsWith('nauth')))).toEqual({
        allow_source: 'true',
        allow_audio_only: 'true',
        player: 'twitchweb',
        playlist_include_framerate: 'true',
      });
    });

    it('answers not_found when VideoMetadata has no video', async () => {
      expect(await errorCode(extractUrl(env.ctx, 'https://www.twitch.tv/videos/2185567717'))).toBe('not_found');
    });
  });

  describe('clip', () => {
    it('maps the raw clip query and signs every rendition', async () => {
      const info = await extractUrl(env.ctx, `https://clips.twitch.tv/${CLIP_SLUG}`);
      expect(info).toMatchObject({
        id: CLIP_SLUG,
        url: `https://clips.twitch.tv/${CLIP_SLUG}`,
        title: 'xqc makes the wrong choice',
        duration: 44,
        uploader: 'xQc',
        uploader_id: 'xqc',
        upload_date: '2020-12-09',
        view_count: 948422,
        tags: ['Cyberpunk 2077'],
        is_live: false,
        extractor: 'twitch',
      });
      expect(gqlRequests(env.replay).at(-1)!.route).toBe(`twitch/gql-raw/clip.${CLIP_SLUG}.json`);
      expect(info.formats.map((f) => [f.format_id, f.height, f.kind, f.protocol, f.ext])).toEqual([
        ['1080p', 1080, 'muxed', 'https', 'mp4'],
        ['720p', 720, 'muxed', 'https', 'mp4'],
        ['480p', 480, 'muxed', 'https', 'mp4'],
        ['360p', 360, 'muxed', 'https', 'mp4'],
      ]);
      const recorded = fixtureJson<{ data: { clip: { playbackAccessToken: { value: string } } } }>(
        `twitch/gql-raw/clip.${CLIP_SLUG}.json`,
      ).data.clip.playbackAccessToken.value;
      for (const f of info.formats) {
        const u = new URL(f.url);
        expect(`${u.origin}${u.pathname}`).toMatch(
          /^https:\/\/d1ndex63qxojbr\.cloudfront\.net\/nauth\/.+\/index\.mp4$/,
        );
        expect(u.searchParams.get('sig')).toBe('2e11e015c9301928203837b4d743b8946f8f551f');
        expect(u.searchParams.get('token')).toBe(recorded);
        expect(f.url).toContain(`&token=${encodeURIComponent(recorded)}`);
      }
    });

    it('uses the recorded raw query string verbatim', () => {
      const index = fixtureJson<{ file: string; match?: Record<string, unknown> }[]>('index.json');
      const entry = index.find((e) => e.file === `twitch/gql-raw/clip.${CLIP_SLUG}.json`);
      expect(entry?.match?.['body.query']).toBe(CLIP_QUERY);
    });

    it('resolves /CHANNEL/clip/SLUG to the same clip', async () => {
      const info = await extractUrl(env.ctx, `https://www.twitch.tv/xqc/clip/${CLIP_SLUG}`);
      expect(info.formats).toHaveLength(4);
    });
  });

  describe('live', () => {
    it('answers live_not_started for an offline channel', async () => {
      expect(await errorCode(extractUrl(env.ctx, 'https://www.twitch.tv/xqc'))).toBe('live_not_started');
      expect(await errorCode(extractUrl(env.ctx, 'https://www.twitch.tv/xqcbot'))).toBe('live_not_started');
    });
  });
});

describe('twitch extractor: synthetic variations of the recordings', () => {
  const clipMissing = 'twitch/gql-raw/clip.missing.json';

  it('answers not_found for a clip GQL returns as null', async () => {
    const env = await setup([
      {
        name: 'missing clip',
        method: 'POST',
        host: 'gql.twitch.tv',
        path: '/gql',
        match: { 'body.query': CLIP_QUERY, 'body.variables': { slug: 'NoSuchClipSlug' } },
        file: clipMissing,
      },
    ]);
    try {
      expect(await errorCode(extractUrl(env.ctx, 'https://clips.twitch.tv/NoSuchClipSlug'))).toBe('not_found');
      expect(env.replay.hitCount('missing clip')).toBe(1);
    } finally {
      await env.close();
    }
  });

  it('answers not_found when the VOD token is null', async () => {
    const env = await setup([
      gqlRoute(
        'null vod token',
        { 'body.operationName': 'PlaybackAccessToken', 'body.variables': { vodID: VOD_ID } },
        { file: 'twitch/gql/PlaybackAccessToken.2-vod-not-exists.json' },
      ),
    ]);
    try {
      expect(await errorCode(extractUrl(env.ctx, `https://www.twitch.tv/videos/${VOD_ID}`))).toBe('not_found');
      expect(env.replay.hitCount('null vod token')).toBe(1);
      expect(env.replay.requests.some((r) => r.host === 'usher.ttvnw.net')).toBe(false);
    } finally {
      await env.close();
    }
  });

  it('answers login_required for a forbidden token and a sub-only usher refusal', async () => {
    const forbidden = JSON.stringify({
      data: {
        videoPlaybackAccessToken: {
          value: vodToken.value.replace('"forbidden":false,"reason":""', '"forbidden":true,"reason":"SUBS_ONLY"'),
          signature: vodToken.signature,
        },
      },
    });
    const tokenEnv = await setup([
      gqlRoute(
        'forbidden token',
        { 'body.operationName': 'PlaybackAccessToken', 'body.variables': { vodID: VOD_ID } },
        { body: forbidden },
      ),
    ]);
    const usherEnv = await setup([
      {
        name: 'usher restricted',
        method: 'GET',
        host: 'usher.ttvnw.net',
        path: `/vod/${VOD_ID}.m3u8`,
        status: 403,
        body: JSON.stringify([
          { url: `/vod/${VOD_ID}.m3u8`, error: 'You do not have access', error_code: 'vod_manifest_restricted' },
        ]),
      },
    ]);
    try {
      expect(await errorCode(extractUrl(tokenEnv.ctx, `https://www.twitch.tv/videos/${VOD_ID}`))).toBe(
        'login_required',
      );
      expect(await errorCode(extractUrl(usherEnv.ctx, `https://www.twitch.tv/videos/${VOD_ID}`))).toBe(
        'login_required',
      );
    } finally {
      await tokenEnv.close();
      await usherEnv.close();
    }
  });

  it('falls back to a raw query when a persisted hash is rejected', async () => {
    const env = await setup([
      gqlRoute(
        'persisted rejected',
        { 'body.operationName': 'VideoMetadata', 'body.variables': { videoID: VOD_ID } },
        { body: JSON.stringify({ errors: [{ message: 'PersistedQueryNotFound' }] }) },
      ),
      {
        name: 'raw video query',
        method: 'POST',
        host: 'gql.twitch.tv',
        path: '/gql',
        match: { 'body.variables': { id: VOD_ID } },
        file: 'twitch/gql/VideoMetadata.4-empty-channel-login.json',
      },
    ]);
    try {
      const info = await extractUrl(env.ctx, `https://www.twitch.tv/videos/${VOD_ID}`);
      expect(info.duration).toBe(4621);
      const raw = env.replay.requests.find((r) => r.route === 'raw video query')!;
      expect((raw.json as { query: string }).query).toMatch(/^query\(\$id:ID!\)\{ video\(id:\$id\)/);
      expect(info.formats).toHaveLength(7);
    } finally {
      await env.close();
    }
  });

  it('builds a live stream from StreamMetadata, a stream token and the usher v2 playlist', async () => {
    // Only jasontheween's stream token was recorded; it stands in for forsen, whose StreamMetadata was.
    const env = await setup([
      gqlRoute(
        'stream token',
        { 'body.operationName': 'PlaybackAccessToken', 'body.variables': { login: 'forsen', isLive: true } },
        { file: 'twitch/gql/PlaybackAccessToken.3-stream.json' },
      ),
    ]);
    try {
      const info = await extractUrl(env.ctx, 'https://www.twitch.tv/forsen');
      expect(info).toMatchObject({
        id: 'forsen',
        url: 'https://www.twitch.tv/forsen',
        title: 'Games and shit!',
        is_live: true,
        upload_date: '2025-05-29',
        tags: ['Guilty as Sock!'],
        extractor: 'twitch',
      });
      expect(info.formats.map((f) => f.format_id)).toEqual([
        '720p60',
        '480p30',
        '360p30',
        '160p30',
        'audio_only',
        '1080p60',
      ]);
      const usher = env.replay.requests.find((r) => r.route === 'usher live')!;
      expect(usher.query.get('sig')).toBe('86059ee80bf681f24888fc3ecfb28a426813eda2');
      expect(JSON.parse(usher.query.get('token')!)).toMatchObject({ channel: 'jasontheween', version: 2 });
      expect(usher.query.get('allow_source')).toBe('true');
    } finally {
      await env.close();
    }
  });
});

describe('vodInfo', () => {
  it('fills templated thumbnail sizes', () => {
    const video = fixtureJson<{ data: { video: GqlVideo } }>('twitch/gql/VideoMetadata.4-empty-channel-login.json').data
      .video;
    const templated = {
      ...video,
      previewThumbnailURL: 'https://static-cdn.jtvnw.net/cf_vods/x/thumb0-%{width}x%{height}.jpg',
    };
    expect(vodInfo(templated, twitchTarget('vod', VOD_ID)).thumbnail_url).toBe(
      'https://static-cdn.jtvnw.net/cf_vods/x/thumb0-1280x720.jpg',
    );
    const plain = { ...video, previewThumbnailURL: 'https://static-cdn.jtvnw.net/x/{width}x{height}.jpg' };
    expect(vodInfo(plain, twitchTarget('vod', VOD_ID)).thumbnail_url).toBe(
      'https://static-cdn.jtvnw.net/x/1280x720.jpg',
    );
  });
});
