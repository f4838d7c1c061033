/**
 * End to end through the replay server: the real extractor, youtubei.js
 * and HttpClient, with every request answered from recorded bytes.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Platform } from 'youtubei.js';
import { AppError, type ErrorCode } from '../../../src/errors/app-error.js';
import type { ExtractContext } from '../../../src/extract/extractor.js';
import { youtubeExtractor } from '../../../src/extract/youtube/extractor.js';
import { innertubeSession } from '../../../src/extract/youtube/innertube.js';
import { HttpClient } from '../../../src/infra/http-client/http-client.js';
import { startReplayServer, type RecordedRequest, type ReplayServer } from '../../support/replay-server.js';
import { loadPlayer } from './load-fixture.js';

const REEL = 'youtube/innertube-2026/7PIMiDcwNvc.android.reel_item_watch.response.json';
const VISIONOS = 'youtube/innertube-2026/7PIMiDcwNvc.visionos.player.response.json';
const WEB_FIELDS = 'youtube/innertube-2026/7PIMiDcwNvc.web.player-fields.response.json';

let replay: ReplayServer;
let http: HttpClient;
let ctx: ExtractContext;
let seen = 0;

beforeAll(async () => {
  replay = await startReplayServer(
    [
      // No recording has a VISIONOS answer made only of ciphered formats: serve the recorded
      // WEB answer for iuevw6218F0 (all signatureCipher) to drive the "nothing usable" path.
      {
        name: 'iuevw6218F0 ciphered',
        method: 'POST',
        host: 'youtubei.googleapis.com',
        path: '/youtubei/v1/player',
        match: { 'body.context.client.clientName': 'VISIONOS', videoId: 'iuevw6218F0' },
        file: 'youtube/web-2024-invidious/iuevw6218F0.web.player.json',
      },
    ],
    // youtubei.js sends its own client versions (its WEB version is newer than the recording).
    ['body.context.client.clientVersion'],
  );
  http = new HttpClient({ upstreamRewrite: replay.url });
  ctx = { http, log: pino({ level: 'silent' }) };
});

afterAll(async () => {
  await http.close();
  await replay.stop();
});

beforeEach(() => {
  seen = replay.requests.length;
  // youtubei.js must never fall back to its own (global) fetch.
  vi.spyOn(Platform.shim, 'fetch').mockRejectedValue(new Error('youtubei.js used global fetch'));
  return () => {
    expect(Platform.shim.fetch).not.toHaveBeenCalled();
    vi.restoreAllMocks();
  };
});

function newRequests(): RecordedRequest[] {
  return replay.requests.slice(seen);
}

function extract(url: string) {
  const target = youtubeExtractor.match(new URL(url));
  if (!target) throw new Error(`not matched: ${url}`);
  return youtubeExtractor.extract(target, ctx);
}

async function errorCode(promise: Promise<unknown>): Promise<ErrorCode | 'no error'> {
  try {
    await promise;
    return 'no error';
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return (err as AppError).code;
  }
}

describe('youtubeExtractor', () => {
  it('creates its youtubei.js session without any request', async () => {
    const fresh = new HttpClient({ upstreamRewrite: replay.url });
    await innertubeSession(fresh);
    await fresh.close();
    expect(newRequests()).toEqual([]);
  });

  it('extracts a video: ANDROID for playability and itag 18, VISIONOS for direct adaptive URLs', async () => {
    const info = await extract('https://youtu.be/7PIMiDcwNvc?si=share');

    expect(info).toMatchObject({
      platform: 'youtube',
      id: '7PIMiDcwNvc',
      url: 'https://www.youtube.com/watch?v=7PIMiDcwNvc',
      title: 'Marzia & Felix - Wedding 19.08.2019',
      duration: 381,
      uploader: 'PewDiePie',
      uploader_id: 'UC-lHJZR3Gqxm24_Vd_AJ5Yw',
      upload_date: '2019-08-24',
      view_count: 41613592,
      like_count: 5471574,
      is_live: false,
      extractor: 'youtube',
    });
    expect(info.description).toMatch(/^Our footage from the wedding/);
    expect(info.thumbnail_url).toMatch(/^https:\/\/i\.ytimg\.com\/vi(_webp)?\/7PIMiDcwNvc\//);
    expect(info.subtitles?.en?.[0]).toMatchObject({ ext: 'vtt', auto: true });

    // 1 muxed format from ANDROID + the 22 adaptive ones from VISIONOS, every one a direct URL.
    expect(info.formats).toHaveLength(23);
    expect(
      info.formats.every((f) => f.protocol === 'https' && new URL(f.url).hostname.endsWith('.googlevideo.com')),
    ).toBe(true);
    expect(info.formats.filter((f) => f.kind === 'muxed').map((f) => f.format_id)).toEqual(['18']);
    const recordedUrls = new Set(
      loadPlayer('innertube-2026/7PIMiDcwNvc.visionos.player.response.json').streamingData?.adaptiveFormats?.map(
        (f) => f.url,
      ),
    );
    expect(info.formats.filter((f) => f.kind !== 'muxed').every((f) => recordedUrls.has(f.url))).toBe(true);
    expect(info.formats.find((f) => f.format_id === '18')?.http_headers?.['User-Agent']).toMatch(
      /^com\.google\.android\.youtube\//,
    );

    const requests = newRequests();
    expect(requests.map((r) => r.route).sort()).toEqual([REEL, VISIONOS, WEB_FIELDS].sort());
    const reel = requests.find((r) => r.route === REEL);
    expect(reel?.headers['user-agent']).toMatch(/^com\.google\.android\.youtube\//);
    expect(reel?.json).toMatchObject({
      context: { client: { clientName: 'ANDROID' } },
      playerRequest: { videoId: '7PIMiDcwNvc', contentCheckOk: true, racyCheckOk: true },
    });
    expect(reel?.query.get('$fields')).toBe('playerResponse');
    const vision = requests.find((r) => r.route === VISIONOS);
    expect(vision?.json).toMatchObject({ context: { client: { clientName: 'VISIONOS' } }, videoId: '7PIMiDcwNvc' });
  });

  it('extracts a live stream as HLS, from the ANDROID answer alone', async () => {
    const info = await extract('https://www.youtube.com/live/X4VbdwhkE10');
    const recorded = loadPlayer('innertube-2026/X4VbdwhkE10.live.android.reel_item_watch.response.json');

    expect(info).toMatchObject({
      title: 'lofi hip hop radio 📚 beats to relax/study to',
      is_live: true,
      duration: null,
      uploader: 'Lofi Girl',
    });
    expect(info.tags).toContain('lofi hip hop');
    expect(info.formats).toEqual([
      expect.objectContaining({ format_id: 'hls', protocol: 'hls', url: recorded.streamingData?.hlsManifestUrl }),
    ]);
    // No recording has the WEB microformat of this stream: that request misses and is ignored.
    expect(info.upload_date).toBeNull();
    expect(
      newRequests()
        .filter((r) => r.route !== null)
        .map((r) => r.route),
    ).toEqual(['youtube/innertube-2026/X4VbdwhkE10.live.android.reel_item_watch.response.json']);
  });

  it.each([
    ['8VajtrESJzA', 'private'],
    ['ayI2iBwGdxw', 'payment_required'],
    ['_PL2HJKxnOM', 'region_blocked'],
    ['don-t-exist', 'not_found'],
  ] as const)('maps the ANDROID verdict for %s to %s', async (id, code) => {
    expect(await errorCode(extract(`https://www.youtube.com/watch?v=${id}`))).toBe(code);
    // The verdict is final: no other client is asked.
    expect(
      newRequests()
        .filter((r) => r.host === 'youtubei.googleapis.com')
        .map((r) => r.path),
    ).toEqual(['/youtubei/v1/reel/reel_item_watch']);
  });

  it('fails with upstream_error when no client yields a direct URL', async () => {
    const err = await extract('https://www.youtube.com/watch?v=iuevw6218F0').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({
      code: 'upstream_error',
      message: expect.stringMatching(/no directly downloadable formats/),
    });
    // ANDROID missed (HTTP 404 from the replay), so VISIONOS was asked and answered with ciphers only.
    expect(newRequests().map((r) => r.route)).toContain('iuevw6218F0 ciphered');
  });

  it("passes the caller's abort signal down to HttpClient", async () => {
    const target = youtubeExtractor.match(new URL('https://www.youtube.com/watch?v=7PIMiDcwNvc'))!;
    const aborted = { ...ctx, signal: AbortSignal.abort() };
    expect(await errorCode(youtubeExtractor.extract(target, aborted))).toBe('upstream_error');
    expect(newRequests()).toEqual([]);
  });

  it('refuses playlist targets', async () => {
    const target = youtubeExtractor.match(
      new URL('https://www.youtube.com/playlist?list=PLFgquLnL59alCl_2TQvOiD5Vgm1hCaGSI'),
    );
    expect(target?.kind).toBe('playlist');
    expect(await errorCode(youtubeExtractor.extract(target!, ctx))).toBe('unsupported_url');
    expect(youtubeExtractor.extractPlaylist).toBeUndefined();
  });
});
