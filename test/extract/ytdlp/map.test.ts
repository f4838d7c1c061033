import { describe, expect, it } from 'vitest';
import {
  mapFormat,
  mapPlaylist,
  mapVideoInfo,
  platformOf,
  protocolOf,
  unsmuggle,
} from '../../../src/extract/ytdlp/map.js';
import { applyProbe, parseProbe } from '../../../src/extract/ytdlp/probe.js';

const UA = { 'User-Agent': 'Mozilla/5.0', Accept: '*/*' };

// Trimmed from real `yt-dlp -J` output (a YouTube-style multi-format document).
const YOUTUBE = {
  id: 'abcdefghijk',
  title: 'A title',
  description: 'Words',
  duration: 212,
  uploader: 'Someone',
  channel_id: 'UC123',
  upload_date: '20240131',
  view_count: 10,
  like_count: 2,
  thumbnails: [{ url: 'https://i.ytimg.com/small.jpg' }, { url: 'https://i.ytimg.com/big.jpg' }],
  tags: ['a', 'b', 3],
  live_status: 'not_live',
  chapters: [{ title: 'Intro', start_time: 0, end_time: 10 }],
  subtitles: {
    en: [
      { ext: 'vtt', url: 'https://x/sub.vtt', name: 'English' },
      { ext: 'json3', data: '...' },
    ],
  },
  automatic_captions: { de: [{ ext: 'vtt', url: 'https://x/auto.vtt' }] },
  webpage_url: 'https://www.youtube.com/watch?v=abcdefghijk',
  extractor: 'youtube',
  extractor_key: 'Youtube',
  formats: [
    { format_id: 'sb0', ext: 'mhtml', protocol: 'mhtml', vcodec: 'none', acodec: 'none', url: 'https://x/sb' },
    {
      format_id: '140',
      ext: 'm4a',
      protocol: 'https',
      vcodec: 'none',
      acodec: 'mp4a.40.2',
      tbr: 129.5,
      filesize: 3400000,
      language: 'en',
      url: 'https://x/140',
      http_headers: UA,
    },
    {
      format_id: '137',
      ext: 'mp4',
      protocol: 'https',
      vcodec: 'avc1.640028',
      acodec: 'none',
      width: 1920,
      height: 1080,
      fps: 25,
      filesize_approx: 50000000.4,
      url: 'https://x/137',
      format_note: '1080p',
    },
    {
      format_id: '96',
      ext: 'mp4',
      protocol: 'm3u8_native',
      vcodec: 'avc1.640028',
      acodec: 'mp4a.40.2',
      url: 'https://x/96.m3u8',
    },
    {
      format_id: 'dash-1',
      ext: 'mp4',
      protocol: 'http_dash_segments',
      vcodec: 'avc1',
      acodec: 'none',
      url: 'https://x/frag1',
      manifest_url: 'https://x/manifest.mpd',
    },
    { format_id: 'rtmp-1', ext: 'flv', protocol: 'rtmp', url: 'rtmp://x/live' },
    { format_id: 'local', ext: 'mp4', protocol: 'file', url: 'file:///etc/passwd' },
  ],
};

describe('mapVideoInfo', () => {
  it('maps a multi-format document', () => {
    const info = mapVideoInfo(YOUTUBE, 'https://youtu.be/abcdefghijk');
    expect(info).toMatchObject({
      platform: 'youtube',
      id: 'abcdefghijk',
      url: 'https://www.youtube.com/watch?v=abcdefghijk',
      title: 'A title',
      duration: 212,
      uploader_id: 'UC123',
      upload_date: '2024-01-31',
      thumbnail_url: 'https://i.ytimg.com/big.jpg',
      tags: ['a', 'b'],
      is_live: false,
      chapters: [{ title: 'Intro', start_time: 0, end_time: 10 }],
      subtitles: { en: [{ url: 'https://x/sub.vtt', ext: 'vtt', name: 'English' }] },
      extractor: 'ytdlp:Youtube',
    });
    expect(info.formats.map((f) => [f.format_id, f.kind, f.protocol])).toEqual([
      ['140', 'audio', 'https'],
      ['137', 'video', 'https'],
      ['96', 'muxed', 'hls'],
      ['dash-1', 'video', 'dash'],
    ]);
    const [audio, video, , dash] = info.formats;
    expect(audio).toMatchObject({
      vcodec: null,
      acodec: 'mp4a.40.2',
      bitrate: 129500,
      filesize: 3400000,
      language: 'en',
      http_headers: UA,
    });
    expect(audio!.filesize_approx).toBeUndefined();
    expect(video).toMatchObject({
      width: 1920,
      height: 1080,
      fps: 25,
      filesize: 50000000,
      filesize_approx: true,
      note: '1080p',
    });
    expect(dash!.url).toBe('https://x/manifest.mpd');
  });

  it('maps a lone top-level format (yt-dlp output for an og:video page)', () => {
    const info = mapVideoInfo(
      {
        id: 'clip',
        title: 'Test clip',
        url: 'http://127.0.0.1:1/clip.mp4',
        ext: 'mp4',
        protocol: 'http',
        format_id: '0',
        http_headers: UA,
        webpage_url: 'http://127.0.0.1:1/page/clip.html',
        extractor: 'generic',
        extractor_key: 'Generic',
      },
      'http://127.0.0.1:1/page/clip.html',
    );
    expect(info).toMatchObject({ platform: 'generic', duration: null, extractor: 'ytdlp:Generic', tags: [] });
    expect(info.formats).toEqual([
      expect.objectContaining({
        format_id: '0',
        kind: 'muxed',
        ext: 'mp4',
        vcodec: null,
        acodec: null,
        protocol: 'https',
        url: 'http://127.0.0.1:1/clip.mp4',
      }),
    ]);
  });

  it('reads live status and survives garbage', () => {
    expect(mapVideoInfo({ id: 'x', is_live: true }, 'https://a/').is_live).toBe(true);
    const info = mapVideoInfo({ id: 7, title: null, formats: 'nope', tags: null, upload_date: '2024' }, 'https://a/');
    expect(info).toMatchObject({ id: '7', title: '', url: 'https://a/', formats: [], tags: [], upload_date: null });
  });
});

describe('helpers', () => {
  it.each([
    ['Youtube', 'youtube'],
    ['YoutubeTab', 'youtube'],
    ['BiliBili', 'bilibili'],
    ['TwitchVod', 'twitch'],
    ['TikTok', 'tiktok'],
    ['Vimeo', 'generic'],
    [null, 'generic'],
  ] as const)('platformOf(%s) = %s', (key, platform) => expect(platformOf(key)).toBe(platform));

  it.each([
    ['http', 'https'],
    ['https', 'https'],
    ['m3u8', 'hls'],
    ['m3u8_native', 'hls'],
    ['http_dash_segments', 'dash'],
    ['http_dash_segments_generator', 'dash'],
    ['rtmp', null],
    ['mhtml', null],
  ] as const)('protocolOf(%s) = %s', (p, expected) => expect(protocolOf(p)).toBe(expected));

  it('mapFormat drops storyboards and non-http URLs', () => {
    expect(mapFormat({ url: 'https://x', vcodec: 'none', acodec: 'none' })).toBeNull();
    expect(mapFormat({ url: 'data:video/mp4;base64,AAAA' })).toBeNull();
  });

  it('unsmuggle strips yt-dlp hints from flat entry URLs', () => {
    expect(unsmuggle('http://h/p.html#__youtubedl_smuggle=%7B%22force_videoid%22%3A+%22one%22%7D')).toEqual({
      url: 'http://h/p.html',
      id: 'one',
    });
    expect(unsmuggle('http://h/p.html#frag')).toEqual({ url: 'http://h/p.html#frag', id: null });
  });
});

describe('mapPlaylist', () => {
  it('maps a --flat-playlist document', () => {
    const playlist = mapPlaylist({
      _type: 'playlist',
      id: 'PL1',
      title: 'List',
      channel: 'Chan',
      extractor_key: 'YoutubeTab',
      entries: [
        {
          _type: 'url',
          ie_key: 'Youtube',
          id: 'v1',
          url: 'https://www.youtube.com/watch?v=v1',
          title: 'One',
          duration: 61,
        },
        {
          _type: 'url_transparent',
          url: 'http://h/two.html#__youtubedl_smuggle=%7B%22force_videoid%22%3A+%22two%22%7D',
          title: 'Two',
        },
        { _type: 'url', id: 'v3', url: 'v3' },
        null,
      ],
    });
    expect(playlist).toEqual({
      platform: 'youtube',
      id: 'PL1',
      title: 'List',
      uploader: 'Chan',
      entries: [
        { id: 'v1', url: 'https://www.youtube.com/watch?v=v1', title: 'One', duration: 61 },
        { id: 'two', url: 'http://h/two.html', title: 'Two', duration: null },
      ],
    });
  });
});

describe('probe mapping', () => {
  // Trimmed real `ffprobe -show_format -show_streams -print_format json` output.
  const MP4 = {
    streams: [
      { codec_type: 'video', codec_name: 'h264', width: 320, height: 240, avg_frame_rate: '25/1' },
      { codec_type: 'audio', codec_name: 'aac', avg_frame_rate: '0/0' },
    ],
    format: { format_name: 'mov,mp4,m4a,3gp,3g2,mj2', duration: '3.000000', size: '115847', bit_rate: '308925' },
  };

  it('parses ffprobe JSON, ignoring playlist-level size for HLS', () => {
    expect(parseProbe(MP4)).toEqual({
      duration: 3,
      size: 115847,
      bitrate: 308925,
      video: { codec: 'h264', width: 320, height: 240, fps: 25 },
      audio: { codec: 'aac' },
    });
    const hls = parseProbe({ ...MP4, format: { format_name: 'hls', duration: '3.0', size: '197', bit_rate: '525' } });
    expect(hls).toMatchObject({ duration: 3, size: null, bitrate: null });
    const coverArt = parseProbe({
      streams: [
        { codec_type: 'video', disposition: { attached_pic: 1 } },
        { codec_type: 'audio', codec_name: 'mp3' },
      ],
    });
    expect(coverArt.video).toBeNull();
  });

  it('fills only what yt-dlp left blank', () => {
    const blind = mapFormat({ url: 'https://x/a.mp4', protocol: 'https', ext: 'mp4', format_id: 'mp4' })!;
    expect(applyProbe(blind, parseProbe(MP4))).toMatchObject({
      kind: 'muxed',
      vcodec: 'h264',
      acodec: 'aac',
      width: 320,
      height: 240,
      fps: 25,
      filesize: 115847,
      bitrate: 308925,
    });
    const known = mapFormat({
      url: 'https://x/v',
      protocol: 'https',
      vcodec: 'vp9',
      acodec: 'none',
      width: 640,
      height: 480,
    })!;
    expect(applyProbe(known, parseProbe(MP4))).toMatchObject({
      kind: 'video',
      vcodec: 'vp9',
      acodec: null,
      width: 640,
    });
  });
});
