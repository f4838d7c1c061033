import { describe, expect, it } from 'vitest';
import { matchTwitchUrl, twitchKind } from '../../../src/extract/twitch/url.js';
import { isAppError } from '../../../src/errors/app-error.js';

const VOD = 'https://www.twitch.tv/videos/2404782496';
const CLIP = 'https://clips.twitch.tv/DeliciousDelightfulPicklesWOOP';

describe('matchTwitchUrl', () => {
  it.each([
    ['https://www.twitch.tv/videos/2404782496', 'vod', '2404782496', VOD],
    ['https://twitch.tv/videos/2404782496?t=1h2m3s', 'vod', '2404782496', VOD],
    ['https://m.twitch.tv/videos/2404782496', 'vod', '2404782496', VOD],
    ['https://www.twitch.tv/videos/v2404782496', 'vod', '2404782496', VOD],
    ['https://www.twitch.tv/twitch/v/2404782496', 'vod', '2404782496', VOD],
    ['https://player.twitch.tv/?video=v2404782496&parent=example.com', 'vod', '2404782496', VOD],
    ['https://clips.twitch.tv/DeliciousDelightfulPicklesWOOP', 'clip', 'DeliciousDelightfulPicklesWOOP', CLIP],
    [
      'https://clips.twitch.tv/embed?clip=DeliciousDelightfulPicklesWOOP&parent=x',
      'clip',
      'DeliciousDelightfulPicklesWOOP',
      CLIP,
    ],
    [
      'https://www.twitch.tv/xqc/clip/DeliciousDelightfulPicklesWOOP?filter=clips',
      'clip',
      'DeliciousDelightfulPicklesWOOP',
      CLIP,
    ],
    ['https://m.twitch.tv/xqc/clip/DeliciousDelightfulPicklesWOOP', 'clip', 'DeliciousDelightfulPicklesWOOP', CLIP],
    ['https://m.twitch.tv/clip/DeliciousDelightfulPicklesWOOP', 'clip', 'DeliciousDelightfulPicklesWOOP', CLIP],
    [
      'https://www.twitch.tv/loltyler1/clip/UnusualEnchantingSproutGivePLZ-o5o0fw_2qOgZvAag',
      'clip',
      'UnusualEnchantingSproutGivePLZ-o5o0fw_2qOgZvAag',
      'https://clips.twitch.tv/UnusualEnchantingSproutGivePLZ-o5o0fw_2qOgZvAag',
    ],
    ['https://www.twitch.tv/xQc', 'live', 'xqc', 'https://www.twitch.tv/xqc'],
    ['https://m.twitch.tv/forsen/', 'live', 'forsen', 'https://www.twitch.tv/forsen'],
  ])('%s → %s %s', (input, kind, id, canonical) => {
    expect(matchTwitchUrl(new URL(input))).toEqual({
      platform: 'twitch',
      kind: 'video',
      id,
      url: canonical,
      hints: { kind },
    });
  });

  it.each([
    'https://www.twitch.tv/',
    'https://www.twitch.tv/directory/category/just-chatting',
    'https://www.twitch.tv/directory',
    'https://www.twitch.tv/settings',
    'https://www.twitch.tv/xqc/videos',
    'https://www.twitch.tv/xqc/clips',
    'https://clips.twitch.tv/',
    'https://nottwitch.tv/videos/2404782496',
    'https://www.youtube.com/watch?v=dQw4w9WgXcQ',
  ])('%s is not a Twitch target', (input) => {
    expect(matchTwitchUrl(new URL(input))).toBeNull();
  });

  it.each([
    'https://www.twitch.tv/videos/abc',
    'https://www.twitch.tv/videos/12ab',
    'https://clips.twitch.tv/bad%20slug',
    'https://www.twitch.tv/xqc/clip/no.dots',
  ])('%s throws invalid_url', (input) => {
    let err: unknown;
    try {
      matchTwitchUrl(new URL(input));
    } catch (e) {
      err = e;
    }
    expect(isAppError(err) && err.code).toBe('invalid_url');
  });
});

describe('twitchKind', () => {
  it('reads the hint, and falls back on the id shape', () => {
    const base = { platform: 'twitch' as const, kind: 'video' as const, url: '' };
    expect(twitchKind({ ...base, id: 'xqc', hints: { kind: 'live' } })).toBe('live');
    expect(twitchKind({ ...base, id: '2404782496' })).toBe('vod');
    expect(twitchKind({ ...base, id: 'DeliciousDelightfulPicklesWOOP' })).toBe('clip');
  });
});
