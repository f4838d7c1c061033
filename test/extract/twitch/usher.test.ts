import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAttributes, parseUsherMaster } from '../../../src/extract/twitch/usher.js';
import { FIXTURES_DIR } from '../../support/replay-server.js';

const fixture = (name: string) => readFileSync(path.join(FIXTURES_DIR, 'twitch/usher', name), 'utf8');
const row = (f: { format_id: string; width: number | null; height: number | null; fps: number | null }) =>
  `${f.format_id} ${f.width ?? '-'}x${f.height ?? '-'}@${f.fps ?? '-'}`;

describe('parseUsherMaster: classic VOD master (EXT-X-MEDIA)', () => {
  const url = 'https://usher.ttvnw.net/vod/2404782496.m3u8?nauth=x&nauthsig=y';
  const formats = parseUsherMaster(fixture('vod-master.streamlink-test.m3u8'), url);

  it('names every variant from its EXT-X-MEDIA group', () => {
    expect(formats.map(row)).toEqual([
      '1080p 1920x1080@-',
      '720p60 1280x720@60',
      '720p30 1280x720@30',
      '480p30 852x480@30',
      'audio_only -x-@-',
      '360p30 640x360@30',
      '160p30 284x160@30',
    ]);
  });

  it('marks the source rendition and maps codecs and bandwidth', () => {
    expect(formats[0]).toEqual({
      format_id: '1080p',
      kind: 'muxed',
      ext: 'mp4',
      vcodec: 'avc1.64002A',
      acodec: 'mp4a.40.2',
      width: 1920,
      height: 1080,
      fps: null,
      bitrate: 2830316,
      filesize: null,
      protocol: 'hls',
      url: 'https://usher.ttvnw.net/vod/source.m3u8',
      note: 'source',
    });
    expect(formats.map((f) => f.vcodec)).toEqual([
      'avc1.64002A',
      'avc1.4D401F',
      'avc1.4D401F',
      'avc1.4D401E',
      null,
      'avc1.4D401E',
      'avc1.4D400C',
    ]);
    expect(formats.every((f) => f.acodec === 'mp4a.40.2' && f.protocol === 'hls')).toBe(true);
  });

  it('turns audio_only into an audio format', () => {
    const audio = formats.find((f) => f.format_id === 'audio_only');
    expect(audio).toMatchObject({ kind: 'audio', ext: 'm4a', vcodec: null, acodec: 'mp4a.40.2', bitrate: 216931 });
    expect(formats.filter((f) => f.kind === 'muxed')).toHaveLength(6);
  });

  it('resolves relative variant URIs against the playlist URL', () => {
    expect(formats.map((f) => f.url)).toEqual(
      ['source', '720p60', '720p30', '480p30', 'audio_only', '360p30', '160p30'].map(
        (n) => `https://usher.ttvnw.net/vod/${n}.m3u8`,
      ),
    );
  });
});

describe('parseUsherMaster: usher v2 live master (IVS-* attributes)', () => {
  const formats = parseUsherMaster(
    fixture('live-multivariant-usher-v2.streamlink-test.m3u8'),
    'https://usher.ttvnw.net/api/v2/channel/hls/forsen.m3u8?sig=s&token=t',
  );

  it('names variants from IVS-NAME, with FRAME-RATE completing bare names', () => {
    expect(formats.map(row)).toEqual([
      '720p60 1280x720@60',
      '480p30 852x480@30',
      '360p30 640x360@30',
      '160p30 284x160@30',
      'audio_only -x-@-',
      '1080p60 1920x1080@60',
    ]);
  });

  it('takes the source flag from IVS-VARIANT-SOURCE and keeps absolute URIs', () => {
    expect(formats.filter((f) => f.note === 'source').map((f) => f.format_id)).toEqual(['1080p60']);
    expect(formats[5]).toMatchObject({ vcodec: 'avc1.64002A', acodec: 'mp4a.40.2', bitrate: 9146586 });
    expect(formats[4]).toMatchObject({ kind: 'audio', vcodec: null, acodec: 'mp4a.40.2', bitrate: 160000 });
    expect(formats[1]!.url).toBe('https://mocked/480p,m3u8');
    expect(formats[0]!.url).toBe('https://mocked/720p60.m3u8');
  });
});

describe('parseUsherMaster: edge cases', () => {
  it('reads the real-usher "NAME (source)" form and keeps ids unique', () => {
    const text = [
      '#EXTM3U',
      '#EXT-X-TWITCH-INFO:NODE="video-edge",SERVER-TIME="1742660000.00"',
      '#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID="chunked",NAME="1080p60 (source)",AUTOSELECT=YES,DEFAULT=YES',
      '#EXT-X-STREAM-INF:BANDWIDTH=8000000,RESOLUTION=1920x1080,CODECS="avc1.64002A,mp4a.40.2",VIDEO="chunked",FRAME-RATE=59.940',
      'https://example.cloudfront.net/x/chunked/index-dvr.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=5000000,RESOLUTION=1080x1920,CODECS="hvc1.1.2.L123,mp4a.40.2",FRAME-RATE=60.000,STABLE-VARIANT-ID="1080p60-portrait",IVS-NAME="1080p60"',
      'portrait.m3u8',
    ].join('\n');
    const formats = parseUsherMaster(text, 'https://usher.ttvnw.net/vod/1.m3u8');
    expect(formats.map((f) => [f.format_id, f.fps, f.note, f.vcodec])).toEqual([
      ['1080p60', 59.94, 'source', 'avc1.64002A'],
      ['1080p60-portrait', 60, undefined, 'hvc1.1.2.L123'],
    ]);
  });

  it('parses quoted attribute values containing commas', () => {
    expect(parseAttributes('BANDWIDTH=1,CODECS="avc1.4D401F,mp4a.40.2",IVS-NAME="480p"')).toEqual({
      BANDWIDTH: '1',
      CODECS: 'avc1.4D401F,mp4a.40.2',
      'IVS-NAME': '480p',
    });
  });

  it('returns nothing for a playlist without variants', () => {
    expect(parseUsherMaster('#EXTM3U\n#EXT-X-VERSION:3\n', 'https://usher.ttvnw.net/x.m3u8')).toEqual([]);
  });
});
