import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors/app-error.js';
import { avToBv, bvToAv, canonicalVideoUrl, matchBilibiliUrl } from '../../../src/extract/bilibili/url.js';
import { FIXTURES_DIR } from '../../support/replay-server.js';

const API_DIR = path.join(FIXTURES_DIR, 'bilibili', 'api');

/** Every recorded (bvid, aid) pair from the view answers. */
const recordedPairs = readdirSync(API_DIR)
  .filter((f) => f.endsWith('.x-web-interface-view.json'))
  .map((f) => JSON.parse(readFileSync(path.join(API_DIR, f), 'utf8')) as { data?: { bvid: string; aid: number } })
  .flatMap((j) => (j.data ? [[j.data.bvid, j.data.aid] as const] : []));

function match(url: string) {
  return matchBilibiliUrl(new URL(url));
}

function expectInvalid(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('invalid_url');
    return;
  }
  expect.fail('expected invalid_url');
}

describe('BV ↔ av', () => {
  it('has the recorded pairs to test against', () => {
    expect(recordedPairs.length).toBe(6);
  });

  it.each(recordedPairs)('%s ↔ av%d', (bvid, aid) => {
    expect(avToBv(aid)).toBe(bvid);
    expect(bvToAv(bvid)).toBe(aid);
  });

  it('round-trips the classic av170001 and a post-2^30 aid', () => {
    expect(avToBv(170001)).toBe('BV17x411w7KC');
    expect(bvToAv(avToBv(2 ** 40 + 7))).toBe(2 ** 40 + 7);
  });

  it('rejects ids outside the algorithm', () => {
    expectInvalid(() => avToBv(0));
    expectInvalid(() => avToBv(2 ** 51));
    expectInvalid(() => bvToAv('BV1Et4y1r7E0'));
  });
});

describe('matchBilibiliUrl', () => {
  it.each([
    'https://www.bilibili.com/video/BV1Et4y1r7Eu',
    'https://www.bilibili.com/video/BV1Et4y1r7Eu/',
    'https://bilibili.com/video/BV1Et4y1r7Eu?spm_id_from=333.1007',
    'https://m.bilibili.com/video/BV1Et4y1r7Eu',
    'http://www.bilibili.com/video/bv1Et4y1r7Eu',
    'https://www.bilibili.com/video/av628516398',
    'https://m.bilibili.com/video/AV628516398/?p=1',
  ])('%s → BV1Et4y1r7Eu', (url) => {
    expect(match(url)).toEqual({
      platform: 'bilibili',
      kind: 'video',
      id: 'BV1Et4y1r7Eu',
      url: 'https://www.bilibili.com/video/BV1Et4y1r7Eu',
    });
  });

  it('keeps ?p=N above 1 as a page hint and in the canonical URL', () => {
    expect(match('https://www.bilibili.com/video/BV1wE4m1R7cu/?p=2&vd_source=x')).toEqual({
      platform: 'bilibili',
      kind: 'video',
      id: 'BV1wE4m1R7cu',
      url: 'https://www.bilibili.com/video/BV1wE4m1R7cu?p=2',
      hints: { page: '2' },
    });
  });

  it.each(['0', '-1', 'abc', ''])('treats ?p=%s as part 1', (p) => {
    expect(match(`https://www.bilibili.com/video/BV1wE4m1R7cu?p=${p}`)?.hints).toBeUndefined();
  });

  it.each([
    'https://www.youtube.com/watch?v=BV1Et4y1r7Eu',
    'https://www.bilibili.com/',
    'https://www.bilibili.com/bangumi/play/ep123',
    'https://space.bilibili.com/25876945',
    'https://www.bilibili.com/video/BV1Et4y1r7Eu/extra',
    'https://b23.tv/abc123',
  ])('ignores %s', (url) => {
    expect(match(url)).toBeNull();
  });

  it.each([
    'https://www.bilibili.com/video/BV1Et4y1r7E',
    'https://www.bilibili.com/video/BV2Et4y1r7Eu',
    'https://www.bilibili.com/video/BV1Et4y1r7El',
    'https://www.bilibili.com/video/av0',
    'https://www.bilibili.com/video/watch',
  ])('throws invalid_url for the malformed id in %s', (url) => {
    expectInvalid(() => match(url));
  });

  it('builds canonical URLs', () => {
    expect(canonicalVideoUrl('BV1wE4m1R7cu')).toBe('https://www.bilibili.com/video/BV1wE4m1R7cu');
    expect(canonicalVideoUrl('BV1wE4m1R7cu', 1)).toBe('https://www.bilibili.com/video/BV1wE4m1R7cu');
    expect(canonicalVideoUrl('BV1wE4m1R7cu', 3)).toBe('https://www.bilibili.com/video/BV1wE4m1R7cu?p=3');
  });
});
