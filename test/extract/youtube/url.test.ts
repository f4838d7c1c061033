import { describe, expect, it } from 'vitest';
import { isAppError } from '../../../src/errors/app-error.js';
import { matchYoutubeUrl } from '../../../src/extract/youtube/url.js';

const ID = 'dQw4w9WgXcQ';
const WATCH = `https://www.youtube.com/watch?v=${ID}`;
const LIST = 'PLFgquLnL59alCl_2TQvOiD5Vgm1hCaGSI';

describe('matchYoutubeUrl', () => {
  it.each([
    `https://www.youtube.com/watch?v=${ID}`,
    `https://youtube.com/watch?v=${ID}&t=42s`,
    `http://m.youtube.com/watch?feature=share&v=${ID}`,
    `https://music.youtube.com/watch?v=${ID}&si=abcDEF123`,
    `https://www.youtube.com/watch?v=${ID}&list=${LIST}&index=3&pp=iAQB`,
    `https://youtu.be/${ID}`,
    `https://youtu.be/${ID}?si=xyz&t=10`,
    `https://www.youtube.com/shorts/${ID}`,
    `https://youtube.com/shorts/${ID}/?feature=share`,
    `https://www.youtube.com/live/${ID}?si=abc`,
    `https://www.youtube.com/embed/${ID}?start=5`,
    `https://www.youtube.com/v/${ID}`,
    `https://www.youtube-nocookie.com/embed/${ID}`,
    `https://WWW.YouTube.com/watch?v=${ID}#t=1m`,
  ])('%s → the video', (input) => {
    expect(matchYoutubeUrl(new URL(input))).toEqual({ platform: 'youtube', kind: 'video', id: ID, url: WATCH });
  });

  it.each([
    `https://www.youtube.com/playlist?list=${LIST}`,
    `https://m.youtube.com/playlist?list=${LIST}&si=abc`,
    `https://www.youtube.com/watch?list=${LIST}`,
    `https://www.youtube.com/embed/videoseries?list=${LIST}`,
  ])('%s → the playlist', (input) => {
    expect(matchYoutubeUrl(new URL(input))).toEqual({
      platform: 'youtube',
      kind: 'playlist',
      id: LIST,
      url: `https://www.youtube.com/playlist?list=${LIST}`,
    });
  });

  it('keeps ids with - and _ intact', () => {
    expect(matchYoutubeUrl(new URL('https://youtu.be/_PL2HJKxnOM'))?.id).toBe('_PL2HJKxnOM');
    expect(matchYoutubeUrl(new URL('https://www.youtube.com/watch?v=don-t-exist'))?.id).toBe('don-t-exist');
  });

  it.each([
    'https://www.youtube.com/watch?v=short',
    'https://www.youtube.com/watch?v=dQw4w9WgXcQQ',
    'https://www.youtube.com/watch?v=dQw4w9WgX%21Q',
    'https://www.youtube.com/watch',
    'https://youtu.be/',
    'https://www.youtube.com/shorts/abc',
    'https://www.youtube.com/embed/',
    'https://www.youtube.com/playlist',
    'https://www.youtube.com/playlist?list=bad!id',
  ])('%s → invalid_url', (input) => {
    let caught: unknown;
    try {
      matchYoutubeUrl(new URL(input));
    } catch (err) {
      caught = err;
    }
    expect(isAppError(caught) && caught.code).toBe('invalid_url');
  });

  it.each([
    'https://vimeo.com/123456',
    'https://www.youtube.com/@PewDiePie',
    'https://www.youtube.com/channel/UC-lHJZR3Gqxm24_Vd_AJ5Yw',
    'https://www.youtube.com/',
    `https://notyoutube.com/watch?v=${ID}`,
    `https://www.youtube.com.evil.example/watch?v=${ID}`,
    `ftp://www.youtube.com/watch?v=${ID}`,
  ])('%s → not a YouTube video or playlist', (input) => {
    expect(matchYoutubeUrl(new URL(input))).toBeNull();
  });
});
