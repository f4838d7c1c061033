import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../../src/errors/app-error.js';
import type { ExtractContext } from '../../../src/extract/extractor.js';
import { tiktokExtractor } from '../../../src/extract/tiktok/extractor.js';
import { matchTiktokUrl } from '../../../src/extract/tiktok/url.js';
import { HttpClient } from '../../../src/infra/http-client/http-client.js';
import { startReplayServer, type ReplayRoute, type ReplayServer } from '../../support/replay-server.js';

const ID = '7660566211100511518';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isAppError(err) ? err.code : 'not an AppError';
  }
  return undefined;
}

describe('matchTiktokUrl', () => {
  it.each([
    [`https://www.tiktok.com/@mysticaquariumct/video/${ID}`, `https://www.tiktok.com/@i/video/${ID}`],
    [
      `https://www.tiktok.com/@mysticaquariumct/video/${ID}?is_from_webapp=1&sender_device=pc`,
      `https://www.tiktok.com/@i/video/${ID}`,
    ],
    [`https://tiktok.com/@some.user_name-1/video/${ID}/`, `https://www.tiktok.com/@i/video/${ID}`],
    [`https://m.tiktok.com/v/${ID}.html`, `https://www.tiktok.com/@i/video/${ID}`],
    [`https://m.tiktok.com/v/${ID}`, `https://www.tiktok.com/@i/video/${ID}`],
    [`https://www.tiktok.com/embed/v2/${ID}`, `https://www.tiktok.com/@i/video/${ID}`],
    [`https://www.tiktok.com/embed/${ID}`, `https://www.tiktok.com/@i/video/${ID}`],
    [`https://us.tiktok.com/@i/video/${ID}`, `https://www.tiktok.com/@i/video/${ID}`],
  ])('%s → %s', (input, canonical) => {
    expect(matchTiktokUrl(new URL(input))).toEqual({ platform: 'tiktok', kind: 'video', id: ID, url: canonical });
  });

  it('marks photo posts with a hint and uses the one @i/video canonical form', () => {
    expect(matchTiktokUrl(new URL('https://www.tiktok.com/@duolingo/photo/7663591047909379341'))).toEqual({
      platform: 'tiktok',
      kind: 'video',
      id: '7663591047909379341',
      url: 'https://www.tiktok.com/@i/video/7663591047909379341',
      hints: { kind: 'photo' },
    });
  });

  it.each([
    'https://vm.tiktok.com/ZMabc123/',
    'https://vt.tiktok.com/ZSabc123/',
    'https://www.tiktok.com/t/ZTabc123/',
    'https://www.tiktok.com/@mysticaquariumct',
    'https://www.tiktok.com/foryou',
    'https://www.tiktok.com/',
    `https://nottiktok.com/@x/video/${ID}`,
    `https://www.tiktok.com.evil.example/@x/video/${ID}`,
  ])('%s is not an item URL', (input) => {
    expect(matchTiktokUrl(new URL(input))).toBeNull();
  });

  it.each([
    'https://www.tiktok.com/@user/video/abc',
    'https://www.tiktok.com/@user/photo/12x',
    'https://m.tiktok.com/v/abc.html',
  ])('%s throws invalid_url', (input) => {
    expect(codeOf(() => matchTiktokUrl(new URL(input)))).toBe('invalid_url');
  });

  it('declares the short-link hosts', () => {
    expect(tiktokExtractor.shortLinkHosts).toEqual(['vm.tiktok.com', 'vt.tiktok.com']);
  });
});

describe('resolveShortLink through the replay server', () => {
  const redirect = (name: string, host: string, path: string, status: number, location?: string): ReplayRoute => ({
    name,
    method: 'GET',
    host,
    path,
    status,
    body: '',
    contentType: 'text/html',
    ...(location ? { headers: { location } } : {}),
  });
  let replay: ReplayServer;
  let http: HttpClient;
  let ctx: ExtractContext;

  beforeAll(async () => {
    replay = await startReplayServer([
      redirect(
        'vm',
        'vm.tiktok.com',
        '/ZMabc123/',
        301,
        `https://www.tiktok.com/@mysticaquariumct/video/${ID}?_r=1&_t=x`,
      ),
      redirect('vt via /t/', 'vt.tiktok.com', '/ZSabc123/', 302, 'https://www.tiktok.com/t/ZTabc123/'),
      redirect(
        '/t/',
        'www.tiktok.com',
        '/t/ZTabc123/',
        301,
        'https://www.tiktok.com/@duolingo/photo/7663591047909379341',
      ),
      redirect('dead', 'vm.tiktok.com', '/ZMdead/', 404),
      redirect('home', 'vm.tiktok.com', '/ZMhome/', 301, 'https://www.tiktok.com/'),
    ]);
    http = new HttpClient({ upstreamRewrite: replay.url });
    ctx = { http, log: pino({ level: 'silent' }) };
  });
  afterAll(async () => {
    await http.close();
    await replay.stop();
  });

  it('reads the Location of a 301 without following it', async () => {
    const target = await tiktokExtractor.resolveShortLink!(new URL('https://vm.tiktok.com/ZMabc123/'), ctx);
    expect(target).toEqual({
      platform: 'tiktok',
      kind: 'video',
      id: ID,
      url: `https://www.tiktok.com/@i/video/${ID}`,
    });
    expect(replay.requests.map((r) => `${r.host}${r.path}`)).toEqual(['vm.tiktok.com/ZMabc123/']);
  });

  it('follows a www.tiktok.com/t/ hop to a photo post', async () => {
    const target = await tiktokExtractor.resolveShortLink!(new URL('https://vt.tiktok.com/ZSabc123/'), ctx);
    expect(target).toMatchObject({ id: '7663591047909379341', hints: { kind: 'photo' } });
    expect(replay.hitCount('/t/')).toBe(1);
  });

  it('answers not_found for dead links and links to the home page', async () => {
    for (const link of ['https://vm.tiktok.com/ZMdead/', 'https://vm.tiktok.com/ZMhome/']) {
      const err = await tiktokExtractor.resolveShortLink!(new URL(link), ctx).catch((e: unknown) => e);
      expect(isAppError(err) && err.code).toBe('not_found');
    }
  });

  it('resolves then extracts the recorded page', async () => {
    const target = await tiktokExtractor.resolveShortLink!(new URL('https://vm.tiktok.com/ZMabc123/'), ctx);
    const info = await tiktokExtractor.extract(target, ctx);
    expect(info.uploader_id).toBe('mysticaquariumct');
    expect(replay.requests.at(-1)).toMatchObject({ host: 'www.tiktok.com', path: `/@i/video/${ID}` });
  });
});
