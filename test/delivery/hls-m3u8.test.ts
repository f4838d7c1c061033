/** The pure playlist parser: no network, just text in and data out. */
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors/app-error.js';
import { parseAttributes, parseM3u8, segmentIv, selectVariant } from '../../src/delivery/downloader/m3u8.js';

const BASE = 'https://cdn.example.com/vod/abc/master.m3u8?token=1';

describe('parseAttributes', () => {
  it('keeps commas inside quoted strings and strips the quotes', () => {
    expect(parseAttributes('BANDWIDTH=1280000,CODECS="avc1.4d401f,mp4a.40.2",RESOLUTION=1280x720,NAME="a=b"')).toEqual({
      BANDWIDTH: '1280000',
      CODECS: 'avc1.4d401f,mp4a.40.2',
      RESOLUTION: '1280x720',
      NAME: 'a=b',
    });
  });
});

describe('parseM3u8', () => {
  it('parses a master playlist with resolved variant URIs and renditions', () => {
    const text = [
      '#EXTM3U',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="English",LANGUAGE="en",DEFAULT=YES,URI="audio/en.m3u8"',
      '#EXT-X-STREAM-INF:BANDWIDTH=800000,AVERAGE-BANDWIDTH=700000,RESOLUTION=640x360,FRAME-RATE=30,AUDIO="aud"',
      '360p/index.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720',
      'https://other.example.com/720p.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=2500000,AVERAGE-BANDWIDTH=2400000,RESOLUTION=1280x720',
      '/abs/720p-b.m3u8',
    ].join('\n');
    const pl = parseM3u8(text, BASE);
    if (pl.type !== 'master') throw new Error('expected master');
    expect(pl.variants.map((v) => v.uri)).toEqual([
      'https://cdn.example.com/vod/abc/360p/index.m3u8',
      'https://other.example.com/720p.m3u8',
      'https://cdn.example.com/abs/720p-b.m3u8',
    ]);
    expect(pl.variants[0]).toMatchObject({
      bandwidth: 800000,
      averageBandwidth: 700000,
      resolution: { width: 640, height: 360 },
      frameRate: 30,
      audio: 'aud',
    });
    expect(pl.renditions[0]).toMatchObject({
      type: 'AUDIO',
      language: 'en',
      isDefault: true,
      uri: 'https://cdn.example.com/vod/abc/audio/en.m3u8',
    });
    // highest BANDWIDTH, ties broken by AVERAGE-BANDWIDTH
    expect(selectVariant(pl).uri).toBe('https://cdn.example.com/abs/720p-b.m3u8');
    expect(selectVariant(pl, '360p/index.m3u8', BASE).bandwidth).toBe(800000);
    expect(() => selectVariant(pl, 'nope.m3u8', BASE)).toThrow(AppError);
  });

  it('parses a media playlist: sequence numbers, keys, IVs, byte ranges, maps, discontinuities', () => {
    const text = [
      '#EXTM3U',
      '#EXT-X-VERSION:6',
      '#EXT-X-TARGETDURATION:4',
      '#EXT-X-MEDIA-SEQUENCE:100',
      '#EXT-X-PLAYLIST-TYPE:VOD',
      '#EXT-X-MAP:URI="init.mp4",BYTERANGE="720@0"',
      '#EXTINF:4.0,first',
      '#EXT-X-BYTERANGE:1000@720',
      'media.mp4',
      '#EXTINF:3.5,',
      '#EXT-X-BYTERANGE:500',
      'media.mp4',
      '#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example.com/k?id=1",IV=0x1A',
      '#EXT-X-DISCONTINUITY',
      '#EXTINF:2,',
      'seg3.ts',
      '#EXT-X-KEY:METHOD=NONE',
      '#EXTINF:2,',
      'seg4.ts',
      '#EXT-X-ENDLIST',
    ].join('\r\n');
    const pl = parseM3u8(text, 'https://cdn.example.com/v/index.m3u8');
    if (pl.type !== 'media') throw new Error('expected media');
    expect(pl).toMatchObject({ version: 6, targetDuration: 4, mediaSequence: 100, playlistType: 'VOD', endList: true });
    expect(pl.durationS).toBeCloseTo(11.5);
    expect(pl.segments.map((s) => s.sequence)).toEqual([100, 101, 102, 103]);
    expect(pl.segments[0]).toMatchObject({
      uri: 'https://cdn.example.com/v/media.mp4',
      title: 'first',
      byteRange: { length: 1000, offset: 720 },
      map: { uri: 'https://cdn.example.com/v/init.mp4', byteRange: { length: 720, offset: 0 } },
      key: null,
    });
    expect(pl.segments[1]!.byteRange).toEqual({ length: 500, offset: 1720 });
    const key = pl.segments[2]!.key!;
    expect(key).toMatchObject({ method: 'AES-128', uri: 'https://keys.example.com/k?id=1' });
    expect(Buffer.from(key.iv!).toString('hex')).toBe('0000000000000000000000000000001a');
    expect(pl.segments[2]!.discontinuity).toBe(true);
    expect(pl.segments[3]!.key).toBeNull();
  });

  it('derives the IV from the media sequence number when the key has none', () => {
    const key = { method: 'AES-128', uri: 'k', iv: null, keyFormat: null };
    expect(Buffer.from(segmentIv(key, 0)).toString('hex')).toBe('0'.repeat(32));
    expect(Buffer.from(segmentIv(key, 258)).toString('hex')).toBe(`${'0'.repeat(28)}0102`);
  });

  it('rejects text that is not a playlist', () => {
    expect(() => parseM3u8('<html></html>', BASE)).toThrow(AppError);
  });
});
