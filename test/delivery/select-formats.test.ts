import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import {
  DownloadOptionsSchema,
  MAX_FILENAME_BYTES,
  resolveOptions,
  sanitizeFilename,
  type DownloadOptions,
  type DownloadOptionsInput,
  type FilenameInfo,
} from '../../src/delivery/options.js';
import { nominalHeight, selectFormats, type Selection } from '../../src/delivery/select-formats.js';
import { AppError } from '../../src/errors/app-error.js';
import { isPreview, mapFormats } from '../../src/extract/bilibili/map.js';
import type { PlayurlData, ViewData } from '../../src/extract/bilibili/types.js';
import type { Format } from '../../src/extract/model.js';
import { itemToVideoInfo } from '../../src/extract/tiktok/extractor.js';
import { parseVideoDetail } from '../../src/extract/tiktok/rehydration.js';
import { parseUsherMaster } from '../../src/extract/twitch/usher.js';
import { mapStreamingData } from '../../src/extract/youtube/map-formats.js';
import type { RawPlayerResponse } from '../../src/extract/youtube/player-response.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/platforms');
const read = (file: string) => readFileSync(path.join(FIXTURES, file), 'utf8');
const json = <T>(file: string) => JSON.parse(read(file)) as T;

// ---------------------------------------------------------------------------
// Real format lists, produced by the extractors' own pure mapping functions

function youtube(file: string): Format[] {
  const raw = json<RawPlayerResponse & { playerResponse?: RawPlayerResponse }>(`youtube/${file}`);
  return mapStreamingData((raw.playerResponse ?? raw).streamingData, { isLive: false }).formats;
}

function bilibili(bvid: string): Format[] {
  const play = json<{ data: PlayurlData }>(`bilibili/api/${bvid}.x-player-wbi-playurl.json`).data;
  const view = json<{ data: ViewData }>(`bilibili/api/${bvid}.x-web-interface-view.json`).data;
  return mapFormats(play, isPreview(view, play));
}

function twitch(file: string): Format[] {
  return parseUsherMaster(read(`twitch/usher/${file}`), 'https://usher.ttvnw.net/vod/2404782496.m3u8');
}

function tiktok(file: string): Format[] {
  const detail = parseVideoDetail(read(`tiktok/${file}`));
  const item = detail!.item!;
  const target = { platform: 'tiktok' as const, kind: 'video' as const, id: item.id, url: 'https://www.tiktok.com/' };
  return itemToVideoInfo(item, target, {}).formats;
}

const LISTS = {
  /** VISIONOS 2026: 12 video (1920x640 "1080p" down to 144p, avc1 + vp9), 10 audio incl. DRC twins, no muxed */
  yt2026: youtube('innertube-2026/7PIMiDcwNvc.visionos.player.response.json'),
  /** WEB 2024: muxed 18, avc1/vp9/av01 per height, 16 audio languages (en-US original) */
  yt16lang: youtube('web-2024-invidious/2isYuQZMbdU.web.player.json'),
  /** ANDROID 2021: muxed 17 (3gp), 18 (360p), 22 (720p) plus adaptive avc1/vp9/av01 */
  ytMuxed: youtube('watch-2021-pytube/2lAe1cqCOXo.regular.innertube-player.json'),
  /** DASH avc/hevc/av1 up to 4K, Dolby Vision, Dolby Atmos (ec-3) */
  biliDolby: bilibili('BV13L4y1K7th'),
  /** DCI 4K (4096x2160), 1920x1012 1080P+/1080P, Hi-Res FLAC */
  biliFlac: bilibili('BV13ht2ejE1S'),
  /** 720P60 and friends */
  bili60: bilibili('BV1Et4y1r7Eu'),
  /** paid video: only the 试看 MP4 preview */
  biliPreview: bilibili('BV1Ys421M7YM'),
  /** classic VOD master: muxed HLS 1080p (source, no fps) … 160p30, plus audio_only */
  twitchVod: twitch('vod-master.streamlink-test.m3u8'),
  /** usher v2 live: 1080p60 source last in the playlist */
  twitchLive: twitch('live-multivariant-usher-v2.streamlink-test.m3u8'),
  /** portrait 1080x1920 h265, 720 h264/h265, 576x1024 h264/h265, playAddr, watermarked downloadAddr */
  tiktokVideo: tiktok('7660566211100511518.video.html'),
  /** photo slideshow: only its music (mp3) */
  tiktokPhoto: tiktok('7663591047909379341.slideshow.html'),
} satisfies Record<string, Format[]>;
type ListName = keyof typeof LISTS;

function opts(o: Partial<DownloadOptions> = {}): DownloadOptions {
  return { quality: 'best', format: 'mp4', audio_only: false, video_codec: 'any', ...o };
}

interface Expected {
  video?: string | null;
  audio?: string | null;
  muxed?: string | null;
  container?: string;
  needs_merge?: boolean;
  needs_transcode?: boolean;
  reason?: RegExp;
}

function ids(s: Selection) {
  return { video: s.video?.format_id ?? null, audio: s.audio?.format_id ?? null, muxed: s.muxed?.format_id ?? null };
}

function check(s: Selection, e: Expected, o: DownloadOptions) {
  expect(ids(s)).toEqual({ video: e.video ?? null, audio: e.audio ?? null, muxed: e.muxed ?? null });
  expect(s.container).toBe(e.container ?? o.format);
  expect(s.needs_merge).toBe(e.needs_merge ?? (s.video !== null && s.audio !== null));
  expect(s.needs_transcode).toBe(e.needs_transcode ?? false);
  expect(s.reason.length).toBeGreaterThan(0);
  if (e.reason) expect(s.reason.join(' ')).toMatch(e.reason);
}

type Row = [ListName, Partial<DownloadOptions>, Expected];

const ROWS: Row[] = [
  // --- YouTube VISIONOS 2026: a 1920x640 film is "1080p", DRC twins never win
  ['yt2026', {}, { video: '137', audio: '140', reason: /Highest quality video 137 \(1920x640/ }],
  ['yt2026', { quality: '1080' }, { video: '137', audio: '140' }],
  ['yt2026', { quality: '720' }, { video: '136', audio: '140' }],
  ['yt2026', { quality: '480' }, { video: '135', audio: '140' }],
  ['yt2026', { quality: '360' }, { video: '134', audio: '140' }],
  ['yt2026', { quality: '240' }, { video: '133', audio: '140' }],
  ['yt2026', { quality: '144' }, { video: '160', audio: '140' }],
  ['yt2026', { quality: 'worst' }, { video: '160', audio: '139', reason: /Lowest quality video 160/ }],
  ['yt2026', { format: 'webm' }, { video: '248', audio: '251' }],
  ['yt2026', { format: 'webm', quality: '720' }, { video: '247', audio: '251' }],
  ['yt2026', { format: 'mkv' }, { video: '137', audio: '251' }],
  ['yt2026', { video_codec: 'vp9' }, { video: '248', audio: '140' }],
  ['yt2026', { video_codec: 'h264', format: 'webm' }, { video: '137', audio: '251', needs_transcode: true }],
  ['yt2026', { video_codec: 'av1' }, { video: '137', audio: '140', reason: /No av1 stream at 1080p; using h264/ }],
  ['yt2026', { audio_only: true, format: 'm4a' }, { audio: '140' }],
  ['yt2026', { audio_only: true, format: 'opus' }, { audio: '251' }],
  ['yt2026', { audio_only: true, format: 'mp3' }, { audio: '251', needs_transcode: true, reason: /re-encoded/ }],
  ['yt2026', { audio_only: true, format: 'm4a', quality: 'worst' }, { audio: '139' }],

  // --- YouTube WEB 2024: 16 audio languages, avc1/vp9/av01 at every height, muxed 18 at 360p
  ['yt16lang', {}, { video: '137', audio: '140-en-US.4', reason: /original track \(en-US\)/ }],
  ['yt16lang', { quality: '1080', video_codec: 'h264' }, { video: '137', audio: '140-en-US.4' }],
  ['yt16lang', { quality: '1080', video_codec: 'av1' }, { video: '399', audio: '140-en-US.4' }],
  ['yt16lang', { quality: '1080', video_codec: 'vp9' }, { video: '248', audio: '140-en-US.4' }],
  ['yt16lang', { quality: '720' }, { video: '136', audio: '140-en-US.4' }],
  ['yt16lang', { quality: '720', video_codec: 'av1' }, { video: '398', audio: '140-en-US.4' }],
  ['yt16lang', { quality: '480' }, { video: '135', audio: '140-en-US.4' }],
  ['yt16lang', { quality: '360' }, { muxed: '18', reason: /Muxed 18 is as good as the best separate video \(134\)/ }],
  ['yt16lang', { quality: '240' }, { video: '133', audio: '140-en-US.4' }],
  ['yt16lang', { quality: 'worst' }, { video: '394', audio: '140-en-US.4' }],
  ['yt16lang', { format: 'webm' }, { video: '248', audio: '251-en-US.4' }],
  ['yt16lang', { format: 'webm', video_codec: 'av1' }, { video: '399', audio: '251-en-US.4' }],
  ['yt16lang', { format: 'mkv' }, { video: '137', audio: '140-en-US.4' }],
  // audio_language: exact, prefix, same primary language, missing
  ['yt16lang', { audio_language: 'fr' }, { video: '137', audio: '140-fr.3' }],
  ['yt16lang', { audio_language: 'zh-Hans' }, { video: '137', audio: '140-zh-Hans.3' }],
  ['yt16lang', { audio_language: 'zh' }, { video: '137', audio: '140-zh-Hans.3', reason: /No exact "zh"/ }],
  ['yt16lang', { audio_language: 'zh-CN' }, { video: '137', audio: '140-zh-Hans.3' }],
  ['yt16lang', { audio_language: 'en' }, { video: '137', audio: '140-en-US.4', reason: /No exact "en" audio/ }],
  ['yt16lang', { audio_language: 'EN_us' }, { video: '137', audio: '140-en-US.4' }],
  [
    'yt16lang',
    { audio_language: 'xx' },
    { video: '137', audio: '140-en-US.4', reason: /No "xx" audio track; using the original track \(en-US\)/ },
  ],
  // the muxed file carries the original audio: a French request splits, an English one does not
  [
    'yt16lang',
    { quality: '360', audio_language: 'fr' },
    { video: '134', audio: '140-fr.3', reason: /lacks the "fr" audio/ },
  ],
  ['yt16lang', { quality: '360', audio_language: 'en' }, { muxed: '18' }],
  ['yt16lang', { audio_only: true, format: 'm4a' }, { audio: '140-en-US.4' }],
  ['yt16lang', { audio_only: true, format: 'opus', audio_language: 'ja' }, { audio: '251-ja.3' }],
  ['yt16lang', { audio_only: true, format: 'mp3' }, { audio: '140-en-US.4', needs_transcode: true }],

  // --- YouTube 2021 with muxed 22 (720p): muxed when as good, separate when better or another codec is wanted
  ['ytMuxed', {}, { video: '137', audio: '140' }],
  ['ytMuxed', { quality: '1080' }, { video: '137', audio: '140' }],
  ['ytMuxed', { quality: '720' }, { muxed: '22' }],
  ['ytMuxed', { quality: '720', video_codec: 'av1' }, { video: '398', audio: '140' }],
  ['ytMuxed', { quality: '720', format: 'webm' }, { video: '247', audio: '251' }],
  ['ytMuxed', { quality: '360' }, { muxed: '18' }],
  ['ytMuxed', { quality: '144' }, { video: '160', audio: '140' }],
  ['ytMuxed', { quality: 'worst' }, { video: '394', audio: '139' }],

  // --- BiliBili: avc/hevc/av1 per quality, Dolby Atmos, FLAC, jittery frame rates
  ['biliDolby', {}, { video: 'dash-120-7', audio: 'audio-30280' }],
  ['biliDolby', { quality: '2160', video_codec: 'av1' }, { video: 'dash-120-13', audio: 'audio-30280' }],
  [
    'biliDolby',
    { quality: '1080' },
    { video: 'dash-116-7', audio: 'audio-30280', reason: /1920x1080, avc1.640032, 62.5 fps/ },
  ],
  ['biliDolby', { quality: '1080', video_codec: 'av1' }, { video: 'dash-116-13', audio: 'audio-30280' }],
  ['biliDolby', { quality: '720' }, { video: 'dash-64-7', audio: 'audio-30280' }],
  ['biliDolby', { quality: '480' }, { video: 'dash-32-7', audio: 'audio-30280' }],
  ['biliDolby', { quality: '360' }, { video: 'dash-16-7', audio: 'audio-30280' }],
  ['biliDolby', { quality: '144' }, { video: 'dash-16-7', audio: 'audio-30280', reason: /Nothing at or below 144p/ }],
  ['biliDolby', { quality: 'worst' }, { video: 'dash-16-12', audio: 'audio-30216' }],
  ['biliDolby', { format: 'mkv' }, { video: 'dash-120-7', audio: 'audio-30250' }],
  ['biliDolby', { format: 'webm' }, { video: 'dash-120-13', audio: 'audio-30250', needs_transcode: true }],
  ['biliDolby', { audio_only: true, format: 'm4a' }, { audio: 'audio-30280' }],
  ['biliFlac', {}, { video: 'dash-120-12', audio: 'audio-30280' }],
  ['biliFlac', { quality: '2160' }, { video: 'dash-120-12', audio: 'audio-30280' }],
  ['biliFlac', { quality: '1440' }, { video: 'dash-112-13', audio: 'audio-30280' }],
  ['biliFlac', { quality: '1080', video_codec: 'h264' }, { video: 'dash-112-7', audio: 'audio-30280' }],
  ['biliFlac', { format: 'mkv' }, { video: 'dash-120-12', audio: 'audio-30251' }],
  ['biliFlac', { audio_only: true, format: 'm4a' }, { audio: 'audio-30280' }],
  ['biliFlac', { audio_only: true, format: 'opus' }, { audio: 'audio-30251', needs_transcode: true }],
  ['bili60', { quality: '720' }, { video: 'dash-64-12', audio: 'audio-30280' }],
  ['bili60', { quality: '720', video_codec: 'h264' }, { video: 'dash-64-7', audio: 'audio-30280' }],
  ['biliPreview', {}, { muxed: 'durl-32', reason: /Only a preview/ }],

  // --- Twitch: every variant is a muxed HLS playlist
  ['twitchVod', {}, { muxed: '1080p' }],
  ['twitchVod', { quality: '1080' }, { muxed: '1080p' }],
  ['twitchVod', { quality: '720' }, { muxed: '720p60' }],
  ['twitchVod', { quality: '480' }, { muxed: '480p30' }],
  ['twitchVod', { quality: '360' }, { muxed: '360p30' }],
  ['twitchVod', { quality: '144' }, { muxed: '160p30', reason: /smallest above/ }],
  ['twitchVod', { quality: 'worst' }, { muxed: '160p30' }],
  ['twitchVod', { format: 'webm' }, { muxed: '1080p', needs_transcode: true }],
  ['twitchVod', { audio_only: true, format: 'm4a' }, { audio: 'audio_only' }],
  ['twitchVod', { audio_only: true, format: 'opus' }, { audio: 'audio_only', needs_transcode: true }],
  ['twitchLive', {}, { muxed: '1080p60' }],
  ['twitchLive', { quality: '720' }, { muxed: '720p60' }],

  // --- TikTok: portrait, h264/h265 ladders, a watermarked download
  ['tiktokVideo', {}, { muxed: 'adapt_lowest_1080_1' }],
  [
    'tiktokVideo',
    { video_codec: 'h264' },
    { muxed: 'adapt_lowest_1080_1', reason: /No h264 stream at 1080p; using hevc/ },
  ],
  ['tiktokVideo', { quality: '720' }, { muxed: 'normal_720_0' }],
  ['tiktokVideo', { quality: '480' }, { muxed: 'adapt_540_1' }],
  ['tiktokVideo', { quality: '480', video_codec: 'h264' }, { muxed: 'lowest_540_0' }],
  ['tiktokVideo', { quality: 'worst' }, { muxed: 'lowest_540_0' }],
  ['tiktokVideo', { audio_only: true, format: 'm4a' }, { muxed: 'adapt_lowest_1080_1', reason: /extracted from/ }],
  ['tiktokVideo', { audio_only: true, format: 'mp3' }, { muxed: 'adapt_lowest_1080_1', needs_transcode: true }],
  ['tiktokPhoto', {}, { audio: 'audio', container: 'mp3', reason: /No video stream exists/ }],
  ['tiktokPhoto', { audio_only: true, format: 'm4a' }, { audio: 'audio', needs_transcode: true }],
];

describe('selectFormats on recorded format lists', () => {
  it('has the expected shapes in the fixtures', () => {
    expect(LISTS.yt2026).toHaveLength(22);
    expect(LISTS.yt16lang).toHaveLength(83);
    expect(LISTS.biliDolby.some((f) => f.acodec === 'ec-3')).toBe(true);
    expect(LISTS.biliFlac.some((f) => f.acodec === 'fLaC')).toBe(true);
    expect(LISTS.biliPreview).toEqual([expect.objectContaining({ format_id: 'durl-32', note: 'preview' })]);
    expect(LISTS.twitchVod.every((f) => f.protocol === 'hls')).toBe(true);
    expect(LISTS.tiktokPhoto.map((f) => f.kind)).toEqual(['audio']);
  });

  it.each(ROWS.map(([list, o, e]) => [`${list} ${JSON.stringify(o)}`, list, o, e] as const))(
    '%s',
    (_name, list, o, e) => {
      const options = opts(o);
      check(selectFormats(LISTS[list], options), e, options);
    },
  );

  it('explains a separate pair in reason', () => {
    const s = selectFormats(LISTS.yt16lang, opts({ quality: '1080' }));
    expect(s.reason).toEqual([
      'Best video at or below 1080p: 137 (1920x1080, avc1.640028, 30 fps, 3893 kbps).',
      'Audio 140-en-US.4 (mp4a.40.2, 129 kbps, en-US, original).',
      'Several audio languages; using the original track (en-US).',
      'Video and audio are separate; they will be merged into mp4.',
    ]);
  });
});

// ---------------------------------------------------------------------------
// Hand-built lists for the edges

let seq = 0;
function fmt(p: Partial<Format> & Pick<Format, 'kind'>): Format {
  const isVideo = p.kind !== 'audio';
  return {
    format_id: `f${++seq}`,
    ext: isVideo ? 'mp4' : 'm4a',
    vcodec: isVideo ? 'avc1.640028' : null,
    acodec: p.kind === 'video' ? null : 'mp4a.40.2',
    width: null,
    height: null,
    fps: null,
    bitrate: null,
    filesize: null,
    protocol: 'https',
    url: `https://media.test/${seq}`,
    ...p,
  };
}
const v = (id: string, height: number, p: Partial<Format> = {}) =>
  fmt({
    format_id: id,
    kind: 'video',
    width: Math.round((height * 16) / 9),
    height,
    fps: 30,
    bitrate: height * 1000,
    ...p,
  });
const a = (id: string, p: Partial<Format> = {}) => fmt({ format_id: id, kind: 'audio', bitrate: 128_000, ...p });
const m = (id: string, height: number, p: Partial<Format> = {}) =>
  fmt({
    format_id: id,
    kind: 'muxed',
    width: Math.round((height * 16) / 9),
    height,
    fps: 30,
    bitrate: height * 1200,
    ...p,
  });

function catchError(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected an AppError');
}

describe('selectFormats edge cases', () => {
  const cases: Array<[string, Format[], Partial<DownloadOptions>, Expected]> = [
    [
      'smallest above when nothing fits',
      [v('v1080', 1080), v('v720', 720), a('a')],
      { quality: '480' },
      { video: 'v720', audio: 'a', reason: /Nothing at or below 480p/ },
    ],
    [
      'higher fps wins at the same height',
      [v('p30', 1080, { bitrate: 9e6 }), v('p60', 1080, { fps: 60, bitrate: 5e6 }), a('a')],
      {},
      { video: 'p60', audio: 'a' },
    ],
    [
      'codec before fps',
      [v('avc60', 1080, { fps: 60 }), v('av1', 1080, { vcodec: 'av01.0.08M.08' }), a('a')],
      { video_codec: 'av1' },
      { video: 'av1', audio: 'a' },
    ],
    [
      'height before codec',
      [v('avc1080', 1080), v('vp9720', 720, { vcodec: 'vp09.00.40.08', ext: 'webm' }), a('a')],
      { video_codec: 'vp9' },
      { video: 'avc1080', audio: 'a' },
    ],
    [
      'vp09 long form counts as vp9',
      [v('avc', 720), v('vp09', 720, { vcodec: 'vp09.00.31.08', ext: 'webm', bitrate: 1 }), a('a')],
      { video_codec: 'vp9' },
      { video: 'vp09', audio: 'a' },
    ],
    [
      'mp4 container prefers avc/aac over vp9/opus',
      [
        v('vp9', 720, { vcodec: 'vp9', ext: 'webm', bitrate: 9e6 }),
        v('avc', 720),
        a('opus', { acodec: 'opus', ext: 'webm', bitrate: 160_000 }),
        a('aac'),
      ],
      {},
      { video: 'avc', audio: 'aac' },
    ],
    [
      'webm container prefers vp9/opus',
      [
        v('avc', 720, { bitrate: 9e6 }),
        v('vp9', 720, { vcodec: 'vp9', ext: 'webm' }),
        a('aac', { bitrate: 256_000 }),
        a('opus', { acodec: 'opus', ext: 'webm' }),
      ],
      { format: 'webm' },
      { video: 'vp9', audio: 'opus' },
    ],
    [
      'mkv takes anything, highest bitrate',
      [
        v('avc', 720),
        v('vp9', 720, { vcodec: 'vp9', bitrate: 9e6 }),
        a('aac'),
        a('opus', { acodec: 'opus', bitrate: 160_000 }),
      ],
      { format: 'mkv' },
      { video: 'vp9', audio: 'opus' },
    ],
    [
      'hevc in webm must be re-encoded',
      [v('hevc', 720, { vcodec: 'hev1.1.6.L120.90' }), a('opus', { acodec: 'opus' })],
      { format: 'webm' },
      { video: 'hevc', audio: 'opus', needs_transcode: true, reason: /Video hev1.1.6.L120.90 cannot go into webm/ },
    ],
    ['muxed beats a lower separate pair', [m('m720', 720), v('v480', 480), a('a')], {}, { muxed: 'm720' }],
    ['separate beats a lower muxed', [m('m480', 480), v('v720', 720), a('a')], {}, { video: 'v720', audio: 'a' }],
    [
      'muxed wins a tie (no merge)',
      [v('v720', 720, { bitrate: 9e6 }), a('a'), m('m720', 720)],
      {},
      { muxed: 'm720', reason: /no merge needed/ },
    ],
    [
      'muxed when there is no separate audio',
      [v('v1080', 1080), m('m360', 360)],
      {},
      { muxed: 'm360', reason: /No separate audio stream/ },
    ],
    ['muxed when there is no separate video', [a('a'), m('m360', 360)], {}, { muxed: 'm360' }],
    [
      'HLS muxed (unknown codecs) counts as muxed',
      [fmt({ format_id: 'hls', kind: 'muxed', vcodec: null, acodec: null, protocol: 'hls' })],
      { quality: '720' },
      { muxed: 'hls', reason: /No format states its resolution/ },
    ],
    [
      'a direct pair beats an HLS muxed at the same height',
      [m('hls1080', 1080, { protocol: 'hls' }), v('v1080', 1080), a('a')],
      {},
      { video: 'v1080', audio: 'a' },
    ],
    [
      'HLS audio-only rendition for audio_only',
      [m('720p', 720, { protocol: 'hls' }), a('audio_only', { protocol: 'hls' })],
      { audio_only: true, format: 'm4a' },
      { audio: 'audio_only' },
    ],
    [
      'video without any audio stays silent',
      [v('v720', 720), v('v480', 480)],
      {},
      { video: 'v720', reason: /no sound/ },
    ],
    [
      'preview skipped when a full format exists',
      [m('trial', 1080, { note: 'preview' }), m('full', 480)],
      {},
      { muxed: 'full', reason: /Skipped 1 preview format\./ },
    ],
    [
      'preview used when nothing else exists',
      [m('trial', 1080, { note: 'preview' })],
      {},
      { muxed: 'trial', reason: /Only a preview/ },
    ],
    [
      'watermarked download loses to a clean one',
      [m('download', 720, { note: 'may be watermarked', bitrate: 9e6 }), m('clean', 720)],
      {},
      { muxed: 'clean' },
    ],
    ['formats without a URL are ignored', [m('nourl', 1080, { url: '' }), m('ok', 480)], {}, { muxed: 'ok' }],
    [
      'DCI 4K counts as 2160p',
      [v('dci', 2160, { width: 4096 }), v('v1080', 1080), a('a')],
      { quality: '2160' },
      { video: 'dci', audio: 'a' },
    ],
    [
      'portrait video is ranked by its short side',
      [m('p1080', 1920, { width: 1080 }), m('p720', 1280, { width: 720 })],
      { quality: '720' },
      { muxed: 'p720' },
    ],
    [
      'yt-dlp original (default) marker',
      [
        v('v', 720),
        a('de', { language: 'de', bitrate: 200_000 }),
        a('en', { language: 'en', note: 'English original (default), medium' }),
      ],
      {},
      { video: 'v', audio: 'en' },
    ],
    [
      'unlabeled track beats a foreign dub without a request',
      [v('v', 720), a('dub', { language: 'es', bitrate: 200_000 }), a('plain')],
      {},
      { video: 'v', audio: 'plain' },
    ],
    [
      'exact language beats prefix',
      [v('v', 720), a('en-US', { language: 'en-US', bitrate: 200_000 }), a('en', { language: 'en' })],
      { audio_language: 'en' },
      { video: 'v', audio: 'en' },
    ],
    [
      'language before codec fit',
      [v('v', 720), a('ja-aac', { language: 'ja' }), a('fr-opus', { language: 'fr', acodec: 'opus', ext: 'webm' })],
      { format: 'webm', audio_language: 'fr' },
      { video: 'v', audio: 'fr-opus', needs_transcode: true },
    ],
    [
      'audio_only with a video container falls back to m4a',
      [v('v', 720), a('aac'), a('opus', { acodec: 'opus', bitrate: 200_000 })],
      { audio_only: true, format: 'mp4' },
      { audio: 'aac', container: 'm4a', reason: /mp4 is a video container/ },
    ],
    [
      'audio_only mp3 keeps an mp3 source as is',
      [a('mp3', { acodec: 'mp3', ext: 'mp3', bitrate: 64_000 }), a('aac')],
      { audio_only: true, format: 'mp3' },
      { audio: 'mp3' },
    ],
    [
      'mp4a.40.34 is mp3, not aac',
      [a('m34', { acodec: 'mp4a.40.34' }), a('aac', { bitrate: 1 })],
      { audio_only: true, format: 'm4a' },
      { audio: 'aac' },
    ],
  ];

  it.each(cases)('%s', (_name, formats, o, e) => {
    const options = opts(o);
    check(selectFormats(formats, options), e, options);
  });

  it('throws not_found for an empty list, with details', () => {
    const err = catchError(() => selectFormats([], opts({ quality: '720' })));
    expect(err.code).toBe('not_found');
    expect(err.details).toEqual({
      requested: { quality: '720', format: 'mp4', audio_only: false, video_codec: 'any' },
      available: { total: 0, video: 0, audio: 0, muxed: 0, preview: 0 },
    });
  });

  it('throws not_found when no format has a URL', () => {
    expect(catchError(() => selectFormats([m('x', 720, { url: '' })], opts())).code).toBe('not_found');
  });

  it('throws not_found for audio_only when nothing carries audio', () => {
    const err = catchError(() => selectFormats([v('v', 720)], opts({ audio_only: true, format: 'm4a' })));
    expect(err.code).toBe('not_found');
    expect(err.details).toMatchObject({ available: { total: 1, video: 1, audio: 0, muxed: 0 } });
  });

  it('does not modify its input', () => {
    const list = structuredClone(LISTS.yt16lang);
    selectFormats(list, opts({ audio_language: 'fr' }));
    expect(list).toEqual(LISTS.yt16lang);
  });

  it('computes the nominal height of a picture', () => {
    expect(nominalHeight({ width: 1920, height: 640 })).toBe(1080);
    expect(nominalHeight({ width: 1080, height: 1920 })).toBe(1080);
    expect(nominalHeight({ width: 852, height: 480 })).toBe(480);
    expect(nominalHeight({ width: null, height: 480 })).toBe(480);
    expect(nominalHeight({ width: 1920, height: null })).toBeNull();
  });
});

// ---------------------------------------------------------------------------

describe('resolveOptions', () => {
  it('uses the built-in defaults without input or preferences', () => {
    expect(resolveOptions(undefined)).toEqual({
      quality: 'best',
      format: 'mp4',
      audio_only: false,
      video_codec: 'any',
    });
    expect(resolveOptions({}, null)).toEqual({ quality: 'best', format: 'mp4', audio_only: false, video_codec: 'any' });
  });

  it('fills missing fields from the preferences', () => {
    const prefs = {
      default_quality: '720',
      default_format: 'webm',
      default_audio_format: 'opus',
      video_codec: 'vp9',
      audio_language: 'ja',
      subtitles: ['en', 'zh-Hans'],
    };
    expect(resolveOptions({}, prefs)).toEqual({
      quality: '720',
      format: 'webm',
      audio_only: false,
      video_codec: 'vp9',
      audio_language: 'ja',
      subtitles: { languages: ['en', 'zh-Hans'], mode: 'embed' },
    });
    expect(resolveOptions({ audio_only: true }, prefs)).toMatchObject({
      format: 'opus',
      audio_only: true,
      subtitles: { languages: ['en', 'zh-Hans'], mode: 'sidecar' },
    });
  });

  it('lets the input override the preferences', () => {
    const prefs = {
      default_quality: '720',
      default_format: 'webm',
      video_codec: 'vp9',
      audio_language: 'ja',
      subtitles: ['en'],
    };
    const input: DownloadOptionsInput = {
      quality: '1080',
      format: 'mkv',
      video_codec: 'av1',
      audio_language: 'fr',
      subtitles: { languages: ['de'], mode: 'sidecar' },
      filename_template: '{uploader} - {title}',
    };
    expect(resolveOptions(input, prefs)).toEqual({
      quality: '1080',
      format: 'mkv',
      audio_only: false,
      video_codec: 'av1',
      audio_language: 'fr',
      subtitles: { languages: ['de'], mode: 'sidecar' },
      filename_template: '{uploader} - {title}',
    });
    // An explicit empty list turns the preferred subtitles off.
    expect(resolveOptions({ subtitles: { languages: [] } }, prefs).subtitles).toBeUndefined();
  });

  it('falls back to the built-in defaults for invalid stored preferences', () => {
    const prefs = {
      default_quality: 'ultra',
      default_format: 'avi',
      default_audio_format: 'wav',
      video_codec: 'h266',
      audio_language: '../../etc',
      subtitles: ['en', '', 'x'.repeat(40), 'en', 'bad lang'],
    };
    expect(resolveOptions({}, prefs)).toEqual({
      quality: 'best',
      format: 'mp4',
      audio_only: false,
      video_codec: 'any',
      subtitles: { languages: ['en'], mode: 'embed' },
    });
    expect(resolveOptions({ audio_only: true }, prefs).format).toBe('m4a');
    // an audio container stored as the video default is not a video container
    expect(resolveOptions({}, { default_format: 'mp3' }).format).toBe('mp4');
  });

  it('reads lenient but meaningful preference spellings', () => {
    expect(resolveOptions({}, { default_quality: ' 1080P ', default_format: 'MKV', video_codec: 'AV1' })).toMatchObject(
      {
        quality: '1080',
        format: 'mkv',
        video_codec: 'av1',
      },
    );
  });

  it('reconciles audio_only with the container', () => {
    expect(resolveOptions({ audio_only: true, format: 'mp4' })).toMatchObject({ audio_only: true, format: 'm4a' });
    expect(resolveOptions({ audio_only: true, format: 'webm' }, { default_audio_format: 'mp3' })).toMatchObject({
      audio_only: true,
      format: 'mp3',
    });
    expect(resolveOptions({ format: 'mp3' })).toMatchObject({ audio_only: true, format: 'mp3' });
    expect(resolveOptions({ format: 'opus', audio_only: true })).toMatchObject({ audio_only: true, format: 'opus' });
    expect(resolveOptions({ format: 'webm', audio_only: false })).toMatchObject({ audio_only: false, format: 'webm' });
    expect(resolveOptions({ audio_only: false }, { default_format: 'mkv' })).toMatchObject({ format: 'mkv' });
    const err = catchError(() => resolveOptions({ format: 'm4a', audio_only: false }));
    expect(err.code).toBe('validation_failed');
  });

  it.each([
    ['an unknown field', { quality: 'best', bitrate: 5 }],
    ['an unknown quality', { quality: '999' }],
    ['an unknown container', { format: 'avi' }],
    ['a too long audio language', { audio_language: 'en-' + 'a'.repeat(40) }],
    ['a malformed audio language', { audio_language: 'en US' }],
    [
      '21 subtitle languages',
      { subtitles: { languages: Array.from({ length: 21 }, (_, i) => `l${'a'.repeat(i % 8)}`) } },
    ],
    ['an unknown subtitle mode', { subtitles: { languages: ['en'], mode: 'burn' } }],
    ['a 201-character filename template', { filename_template: 'x'.repeat(201) }],
    ['a non-boolean audio_only', { audio_only: 'yes' }],
  ])('rejects %s', (_name, input) => {
    expect(Value.Check(DownloadOptionsSchema, input)).toBe(false);
    const err = catchError(() => resolveOptions(input as never));
    expect(err.code).toBe('validation_failed');
    expect(err.details).toMatchObject({
      errors: expect.arrayContaining([expect.objectContaining({ path: expect.any(String) })]),
    });
  });

  it('accepts a full valid input', () => {
    const input = {
      quality: '2160',
      format: 'webm',
      audio_only: false,
      video_codec: 'vp9',
      audio_language: 'pt-BR',
      subtitles: { languages: ['en', 'ai-zh', 'zh-Hans'], mode: 'embed' },
      filename_template: 'x'.repeat(200),
    };
    expect(Value.Check(DownloadOptionsSchema, input)).toBe(true);
  });
});

describe('sanitizeFilename', () => {
  const info: FilenameInfo = {
    platform: 'youtube',
    id: 'dQw4w9WgXcQ',
    title: 'Never Gonna Give You Up',
    uploader: 'Rick Astley',
    upload_date: '2009-10-25',
    quality: '1080p',
  };
  const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

  it('uses "{title} [{id}]" by default and expands every placeholder', () => {
    expect(sanitizeFilename(undefined, info)).toBe('Never Gonna Give You Up [dQw4w9WgXcQ]');
    expect(sanitizeFilename('{platform}-{uploader}-{upload_date}-{quality}-{id}', info)).toBe(
      'youtube-Rick Astley-2009-10-25-1080p-dQw4w9WgXcQ',
    );
    expect(sanitizeFilename('{uploader} {unknown}', { ...info, uploader: null })).toBe('unknown {unknown}');
  });

  it('never leaves a path separator or a parent reference', () => {
    const names = [
      sanitizeFilename('../../etc/passwd', info),
      sanitizeFilename('{title}', { ...info, title: '../../etc/passwd' }),
      sanitizeFilename('{title}', { ...info, title: '..\\..\\Windows\\System32' }),
      sanitizeFilename('{title}', { ...info, title: '/absolute/path' }),
    ];
    expect(names).toEqual(['etc passwd', 'etc passwd', 'Windows System32', 'absolute path']);
    for (const n of names) expect(n).not.toMatch(/[/\\]|^\./);
  });

  it('strips control characters, NUL, bidi overrides and Windows-forbidden characters', () => {
    const title = 'a\u0000b\u0007c\nd\te\u202egnp.exe: "what?" <x>|*';
    const name = sanitizeFilename('{title}', { ...info, title });
    expect(name).toBe('a b c d e gnp.exe what x');
    expect(name).not.toMatch(/[\u0000-\u001f\u007f\u202e:*?"<>|]/);
  });

  it('trims leading dots and trailing dots and spaces, collapses whitespace', () => {
    expect(sanitizeFilename('{title}', { ...info, title: '  ...hidden   file . . .  ' })).toBe('hidden file');
    expect(sanitizeFilename('{title}', { ...info, title: '.bashrc' })).toBe('bashrc');
  });

  it.each([
    ['CON', '_CON'],
    ['nul', '_nul'],
    ['COM1', '_COM1'],
    ['lpt9', '_lpt9'],
    ['aux.tar', '_aux.tar'],
    ['CON ', '_CON'],
    ['CONSOLE', 'CONSOLE'],
    ['com10', 'com10'],
  ])('defuses the Windows device name %j', (title, expected) => {
    expect(sanitizeFilename('{title}', { ...info, title })).toBe(expected);
  });

  it('keeps Chinese titles and caps a 500-character one at 180 bytes, keeping the id', () => {
    const title = '【4K】' + '测试视频标题'.repeat(84);
    expect(title.length).toBeGreaterThanOrEqual(500);
    const name = sanitizeFilename(undefined, { ...info, platform: 'bilibili', id: 'BV13L4y1K7th', title });
    expect(bytes(name)).toBeLessThanOrEqual(MAX_FILENAME_BYTES);
    expect(bytes(name)).toBeGreaterThan(MAX_FILENAME_BYTES - 4);
    expect(name.startsWith('【4K】测试视频标题')).toBe(true);
    expect(name.endsWith(' [BV13L4y1K7th]')).toBe(true);
    expect(name).not.toContain('\ufffd');
    expect(Buffer.from(name, 'utf8').toString('utf8')).toBe(name);
  });

  it('caps a template without {title} without splitting a code point', () => {
    const name = sanitizeFilename('{uploader}', { ...info, uploader: '中'.repeat(100) });
    expect(name).toBe('中'.repeat(60));
  });

  it('keeps emoji and never splits an emoji sequence', () => {
    expect(sanitizeFilename('{title}', { ...info, title: '🎉 Party 👨‍👩‍👧 time' })).toBe('🎉 Party 👨‍👩‍👧 time');
    const family = '👨‍👩‍👧'; // 18 bytes: three 4-byte emoji joined by two 3-byte ZWJs
    const name = sanitizeFilename('{title}', { ...info, title: family.repeat(30) });
    expect(name).toBe(family.repeat(10));
    const flags = sanitizeFilename('{title}', { ...info, title: 'x' + '🇯🇵'.repeat(40) });
    expect(bytes(flags)).toBeLessThanOrEqual(MAX_FILENAME_BYTES);
    expect(flags).toBe('x' + '🇯🇵'.repeat(22));
  });

  it('is never empty: falls back to the id', () => {
    expect(sanitizeFilename('{title}', { ...info, title: '' })).toBe('dQw4w9WgXcQ');
    expect(sanitizeFilename('{title}', { ...info, title: '...///???' })).toBe('dQw4w9WgXcQ');
    expect(sanitizeFilename('///', info)).toBe('dQw4w9WgXcQ');
    expect(sanitizeFilename('{title}', { ...info, id: '', title: '' })).toBe('video');
  });
});
