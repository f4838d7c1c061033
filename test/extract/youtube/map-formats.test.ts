import { describe, expect, it } from 'vitest';
import { mapStreamingData, type MapOptions } from '../../../src/extract/youtube/map-formats.js';
import { loadPlayer } from './load-fixture.js';

const VOD: MapOptions = { isLive: false };

function mapFile(file: string, opts: MapOptions = VOD) {
  return mapStreamingData(loadPlayer(file).streamingData, opts);
}

describe('mapStreamingData', () => {
  it('maps all 22 direct VISIONOS adaptive formats (7PIMiDcwNvc)', () => {
    const { formats, skipped } = mapFile('innertube-2026/7PIMiDcwNvc.visionos.player.response.json', {
      isLive: false,
      headers: { 'User-Agent': 'ua' },
    });
    expect(skipped).toBe(0);
    expect(formats).toHaveLength(22);
    expect(
      formats.every((f) => f.protocol === 'https' && f.url.startsWith('https://') && f.url.includes('googlevideo.com')),
    ).toBe(true);
    expect(new Set(formats.map((f) => f.format_id)).size).toBe(22);
    expect(formats.filter((f) => f.kind === 'video')).toHaveLength(12);
    expect(formats.filter((f) => f.kind === 'audio')).toHaveLength(10);
    expect(formats.every((f) => f.http_headers?.['User-Agent'] === 'ua')).toBe(true);

    expect(formats.find((f) => f.format_id === '137')).toMatchObject({
      kind: 'video',
      ext: 'mp4',
      vcodec: 'avc1.640020',
      acodec: null,
      width: 1920,
      height: 640,
      fps: 25,
      bitrate: 1410851,
      filesize: 67212977,
      note: '1080p',
    });
    expect(formats.find((f) => f.format_id === '251')).toMatchObject({
      kind: 'audio',
      ext: 'webm',
      vcodec: null,
      acodec: 'opus',
      width: null,
      filesize: 6461153,
    });
    // DRC audio repeats the itag.
    expect(formats.find((f) => f.format_id === '140-drc')).toMatchObject({
      ext: 'm4a',
      acodec: 'mp4a.40.2',
      note: 'medium audio, DRC',
    });
  });

  it('keeps only itag 18 from the SABR-only ANDROID answer (7PIMiDcwNvc)', () => {
    const { formats, skipped } = mapFile('innertube-2026/7PIMiDcwNvc.android.reel_item_watch.response.json');
    expect(skipped).toBe(31);
    expect(formats).toHaveLength(1);
    expect(formats[0]).toMatchObject({
      format_id: '18',
      kind: 'muxed',
      ext: 'mp4',
      vcodec: expect.stringMatching(/^avc1\./),
      acodec: 'mp4a.40.2',
      width: 640,
      height: 214,
    });
  });

  it('maps 83 WEB formats with 16 audio languages (2isYuQZMbdU)', () => {
    const { formats, skipped } = mapFile('web-2024-invidious/2isYuQZMbdU.web.player.json');
    expect(skipped).toBe(0);
    expect(formats).toHaveLength(83);
    expect(new Set(formats.map((f) => f.format_id)).size).toBe(83);
    const languages = new Set(formats.filter((f) => f.language).map((f) => f.language));
    expect(languages.size).toBe(16);
    expect(languages).toContain('en-US');
    expect(languages).toContain('zh-Hans');
    expect(formats.filter((f) => f.kind === 'muxed').map((f) => f.format_id)).toEqual(['18']);
    expect(formats.find((f) => f.format_id === '140-ar.3')).toMatchObject({
      kind: 'audio',
      language: 'ar',
      note: expect.stringContaining('Arabic'),
    });
  });

  it('skips every signatureCipher format (iuevw6218F0)', () => {
    expect(mapFile('web-2024-invidious/iuevw6218F0.web.player.json')).toEqual({ formats: [], skipped: 17 });
  });

  it('offers a live stream as its HLS master playlist (X4VbdwhkE10)', () => {
    for (const file of [
      'innertube-2026/X4VbdwhkE10.live.visionos.player.response.json',
      'innertube-2026/X4VbdwhkE10.live.android.reel_item_watch.response.json',
    ]) {
      const player = loadPlayer(file);
      const { formats, skipped } = mapStreamingData(player.streamingData, { isLive: true });
      expect(skipped).toBe(0);
      expect(formats).toEqual([
        expect.objectContaining({ format_id: 'hls', protocol: 'hls', url: player.streamingData?.hlsManifestUrl }),
      ]);
    }
  });

  it('estimates the size from bitrate and duration when contentLength is missing', () => {
    const { formats } = mapStreamingData(
      {
        adaptiveFormats: [
          {
            itag: 140,
            url: 'https://x.test/a',
            mimeType: 'audio/mp4; codecs="mp4a.40.2"',
            averageBitrate: 128000,
            approxDurationMs: '10000',
          },
        ],
      },
      VOD,
    );
    expect(formats[0]).toMatchObject({ filesize: 160000, filesize_approx: true });
  });

  it('counts formats without a mapping as skipped (no streamingData, DRM)', () => {
    expect(mapStreamingData(undefined, VOD)).toEqual({ formats: [], skipped: 0 });
    const drm = { itag: 1, url: 'https://x.test', mimeType: 'video/mp4; codecs="avc1"', drmFamilies: ['WIDEVINE'] };
    expect(mapStreamingData({ adaptiveFormats: [drm] }, VOD)).toEqual({ formats: [], skipped: 1 });
  });
});
