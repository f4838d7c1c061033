/**
 * What the extraction service adds around the engines, seen from outside:
 * the video_info cache and its TTLs, single-flight within one process and
 * across processes (lock in the shared cache), and the outbound budget
 * (platform_limit:{platform}:{window}). Upstream requests are counted by
 * the replay server; the servers are the real ones.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReplayServer, type ReplayRoute, type ReplayServer } from '../support/replay-server.js';
import { startTestServer, type TestServer } from '../support/server.js';

const BV = 'BV1Et4y1r7Eu';
const BV_URL = `https://www.bilibili.com/video/${BV}`;
const BV_VIEW = `bilibili/api/${BV}.x-web-interface-view.json`;
/** The BiliBili videos with a recorded view answer (BV1tN4y1F79k and BV1wE4m1R7cu have no playurl). */
const BILI_IDS = ['BV13L4y1K7th', 'BV13ht2ejE1S', BV, 'BV1Ys421M7YM', 'BV1tN4y1F79k', 'BV1wE4m1R7cu'];
const biliUrl = (id: string) => `https://www.bilibili.com/video/${id}`;

const TT_ID = '7660566211100511518';
const TT_URL = `https://www.tiktok.com/@i/video/${TT_ID}`;
const TT_PAGE = `tiktok/${TT_ID}.video.html`;
const CLIP_URL = 'https://clips.twitch.tv/DeliciousDelightfulPicklesWOOP';
const CLIP_GQL = 'twitch/gql-raw/clip.DeliciousDelightfulPicklesWOOP.json';

/** The recorded view answer, held back `delayMs` so concurrent requests overlap. Same name as the index route. */
function slowView(bvid: string, delayMs: number): ReplayRoute {
  return {
    name: `bilibili/api/${bvid}.x-web-interface-view.json`,
    method: 'GET',
    host: 'api.bilibili.com',
    path: '/x/web-interface/view',
    match: { 'query.bvid': bvid },
    contentType: 'application/json; charset=UTF-8',
    file: `bilibili/api/${bvid}.x-web-interface-view.json`,
    delayMs,
  };
}

function slowTiktok(delayMs: number): ReplayRoute {
  return {
    name: TT_PAGE,
    method: 'GET',
    host: 'www.tiktok.com',
    path: `/@i/video/${TT_ID}`,
    contentType: 'text/html; charset=utf-8',
    file: TT_PAGE,
    delayMs,
  };
}

interface Reply {
  status: number;
  cache: string | null;

  body: any;
}

async function info(server: TestServer, url: string): Promise<Reply> {
  const res = await server.fetch(`${server.url}/api/v2/videos/info?url=${encodeURIComponent(url)}`);
  return { status: res.status, cache: res.headers.get('x-cache'), body: await res.json() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Upstream BiliBili view requests, whichever route (or none) answered them. */
function viewRequests(replay: ReplayServer): string[] {
  return replay.requests
    .filter((r) => r.host === 'api.bilibili.com' && r.path === '/x/web-interface/view')
    .map((r) => r.query.get('bvid')!);
}

/**
 * Budgets are fixed windows: a burst that straddles a window boundary may
 * legitimately get 2 × the budget. Start bursts with room left in the window.
 */
async function awayFromWindowEdge(windowS: number, marginMs = 3000): Promise<void> {
  const left = windowS * 1000 - (Date.now() % (windowS * 1000));
  if (left < marginMs) await sleep(left + 50);
}

const budgetKey = (platform: string, windowS: number) =>
  `platform_limit:${platform}:${Math.floor(Date.now() / 1000 / windowS)}`;

function expectRateLimited(r: Reply): void {
  expect(r.status).toBe(429);
  expect(r.body).toEqual({
    error: {
      code: 'rate_limited',
      message: expect.stringMatching(/bilibili/),
      details: { platform: 'bilibili', retry_after_s: expect.any(Number), budget: '2/60s' },
    },
  });
  const retry = r.body.error.details.retry_after_s as number;
  expect(Number.isInteger(retry)).toBe(true);
  expect(retry).toBeGreaterThanOrEqual(1);
  expect(retry).toBeLessThanOrEqual(60);
}

describe('in one process', () => {
  let replay: ReplayServer;
  /** VIDEO_INFO_TTL=1 */
  let short: TestServer;
  /** VIDEO_INFO_TTL_BY_PLATFORM=bilibili=1,twitch=0 (default TTL for the rest), on Redis */
  let perPlatform: TestServer;
  /** PLATFORM_BUDGET=bilibili=2/60 */
  let budgeted: TestServer;

  beforeAll(async () => {
    replay = await startReplayServer([slowView(BV, 300)]);
    const rewrite = { YTBH_UPSTREAM_REWRITE: replay.url };
    [short, perPlatform, budgeted] = await Promise.all([
      startTestServer('embedded', { ...rewrite, VIDEO_INFO_TTL: '1' }),
      // Redis TTLs here (and a fast start: PGlite takes seconds of CPU per server)
      startTestServer('distributed', { ...rewrite, VIDEO_INFO_TTL_BY_PLATFORM: 'bilibili=1,twitch=0' }),
      startTestServer('embedded', { ...rewrite, PLATFORM_BUDGET: 'bilibili=2/60' }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([short?.close(), perPlatform?.close(), budgeted?.close()]);
    await replay?.stop();
  });

  it('single-flight: 10 concurrent identical requests → 1 upstream view request, 10 identical answers', async () => {
    const before = replay.hitCount(BV_VIEW);
    const replies = await Promise.all(Array.from({ length: 10 }, () => info(short, BV_URL)));
    expect(replay.hitCount(BV_VIEW) - before).toBe(1);
    for (const r of replies) {
      expect(r.status).toBe(200);
      expect(r.body).toEqual(replies[0]!.body);
    }
    expect(replies[0]!.body).toMatchObject({ id: BV, title: '骁龙888性能分析：翻车！', duration: 942 });
  });

  it('VIDEO_INFO_TTL=1: a hit within the TTL, a miss (and a new upstream request) after it', async () => {
    const before = replay.hitCount(TT_PAGE);
    const first = await info(short, TT_URL);
    expect([first.status, first.cache]).toEqual([200, 'miss']);
    const second = await info(short, TT_URL);
    expect([second.status, second.cache]).toEqual([200, 'hit']);
    expect(second.body).toEqual(first.body);
    expect(replay.hitCount(TT_PAGE) - before).toBe(1);

    await sleep(1200);
    const third = await info(short, TT_URL);
    expect([third.status, third.cache]).toEqual([200, 'miss']);
    expect(replay.hitCount(TT_PAGE) - before).toBe(2);
  });

  it('VIDEO_INFO_TTL_BY_PLATFORM=bilibili=1 overrides bilibili only', async () => {
    const views = replay.hitCount(BV_VIEW);
    const pages = replay.hitCount(TT_PAGE);
    expect((await info(perPlatform, BV_URL)).cache).toBe('miss');
    expect((await info(perPlatform, TT_URL)).cache).toBe('miss');
    expect((await info(perPlatform, BV_URL)).cache).toBe('hit');
    expect((await info(perPlatform, TT_URL)).cache).toBe('hit');

    await sleep(1200);
    const bili = await info(perPlatform, BV_URL);
    const tiktok = await info(perPlatform, TT_URL);
    expect([bili.status, bili.cache]).toEqual([200, 'miss']);
    expect([tiktok.status, tiktok.cache]).toEqual([200, 'hit']); // still under the default 3600 s
    expect(replay.hitCount(BV_VIEW) - views).toBe(2);
    expect(replay.hitCount(TT_PAGE) - pages).toBe(1);
  });

  it('a TTL of 0 (twitch=0) keeps nothing: every request goes upstream', async () => {
    const before = replay.hitCount(CLIP_GQL);
    const first = await info(perPlatform, CLIP_URL);
    const second = await info(perPlatform, CLIP_URL);
    expect([first.status, first.cache]).toEqual([200, 'miss']);
    expect([second.status, second.cache]).toEqual([200, 'miss']);
    expect(second.body).toEqual(first.body);
    expect(replay.hitCount(CLIP_GQL) - before).toBe(2);
  });

  it('PLATFORM_BUDGET=bilibili=2/60: of 5 concurrent new videos exactly 2 reach upstream, 3 get 429', async () => {
    const five = BILI_IDS.slice(0, 5);
    await awayFromWindowEdge(60);
    const seen = viewRequests(replay).length;
    const replies = await Promise.all(five.map((id) => info(budgeted, biliUrl(id))));

    const upstream = viewRequests(replay).slice(seen);
    expect(upstream).toHaveLength(2);
    const limited = replies.filter((r) => r.status === 429);
    expect(limited).toHaveLength(3);
    limited.forEach(expectRateLimited);
    // the two that went upstream are the two that were not refused
    const through = five.filter((_, i) => replies[i]!.status !== 429);
    expect(through.sort()).toEqual([...upstream].sort());
    expect(await budgeted.services.cache.get(budgetKey('bilibili', 60))).toBe('5');

    // Cached answers are served with the budget used up, and take nothing from it.
    const cached = five.filter((_, i) => replies[i]!.status === 200);
    for (const id of cached) {
      const r = await info(budgeted, biliUrl(id));
      expect([id, r.status, r.cache]).toEqual([id, 200, 'hit']);
    }
    expect(viewRequests(replay).length).toBe(seen + 2);
    expect(await budgeted.services.cache.get(budgetKey('bilibili', 60))).toBe('5');

    // Other platforms have their own budget.
    expect((await info(budgeted, TT_URL)).status).toBe(200);
  });
});

describe('across processes (distributed: two servers, one PostgreSQL database, one Redis namespace)', () => {
  let replay: ReplayServer;
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    replay = await startReplayServer([slowTiktok(300)]);
    const env = { YTBH_UPSTREAM_REWRITE: replay.url, PLATFORM_BUDGET: 'bilibili=2/60' };
    a = await startTestServer('distributed', env);
    b = await startTestServer('distributed', env, { share: { from: a } });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close(); // closes b first if it is still open
    await replay?.stop();
  });

  it('the two servers really share the cache namespace and the database', async () => {
    expect(a.services.cache.kind).toBe('redis');
    expect(b.backends).toEqual(a.backends);
    await a.services.cache.set('probe:shared', 'from-a', 30);
    expect(await b.services.cache.get('probe:shared')).toBe('from-a');
    await b.services.cache.del('probe:shared');
    expect(a.port).not.toBe(b.port);
  });

  it('concurrent requests for one URL at both → exactly 1 upstream extraction', async () => {
    const before = replay.hitCount(TT_PAGE);
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) => info(i % 2 ? b : a, `https://www.tiktok.com/@someone/video/${TT_ID}`)),
    );
    expect(replay.hitCount(TT_PAGE) - before).toBe(1);
    for (const r of replies) {
      expect(r.status).toBe(200);
      expect(r.body).toEqual(replies[0]!.body);
    }
    expect(replies.filter((r) => r.cache === 'miss').length).toBeGreaterThanOrEqual(1);

    // One shared result under video_info:{sha256(canonical url)}, and the lock is released.
    const hash = createHash('sha256').update(TT_URL).digest('hex');
    expect(JSON.parse((await a.services.cache.get(`video_info:${hash}`))!)).toEqual(replies[0]!.body);
    expect(await b.services.cache.get(`extract_lock:${hash}`)).toBeNull();
    // Both processes see the one row in the shared database.
    for (const s of [a, b]) {
      const rows = await s.services.database.db
        .selectFrom('videos')
        .select(['video_id'])
        .where('url', '=', TT_URL)
        .execute();
      expect(rows).toEqual([{ video_id: TT_ID }]);
    }
    // And a later request at either is a hit.
    expect((await info(b, TT_URL)).cache).toBe('hit');
    expect(replay.hitCount(TT_PAGE) - before).toBe(1);
  });

  it('PLATFORM_BUDGET=bilibili=2/60 holds across both: 6 new videos over 2 servers → exactly 2 upstream', async () => {
    await awayFromWindowEdge(60);
    const seen = viewRequests(replay).length;
    const replies = await Promise.all(BILI_IDS.map((id, i) => info(i % 2 ? b : a, biliUrl(id))));
    const upstream = viewRequests(replay).slice(seen);
    expect(upstream).toHaveLength(2);
    const limited = replies.filter((r) => r.status === 429);
    expect(limited).toHaveLength(4);
    limited.forEach(expectRateLimited);
    expect(await a.services.cache.get(budgetKey('bilibili', 60))).toBe('6');
  });
});
