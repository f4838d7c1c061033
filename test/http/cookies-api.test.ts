/**
 * Platform cookies through the API, end to end: the real server (embedded,
 * and two distributed processes sharing PostgreSQL and Redis), platform
 * requests answered by the replay server, which records the headers each
 * request arrived with.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DecryptError } from '../../src/infra/crypto/field-cipher.js';
import { PLATFORMS } from '../../src/extract/model.js';
import { startReplayServer, type RecordedRequest, type ReplayServer } from '../support/replay-server.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { createTestUser, type TestUser } from '../support/auth.js';

const FUTURE = Math.floor(Date.now() / 1000) + 30 * 24 * 3600;
const LATER = FUTURE + 24 * 3600;
const PAST = Math.floor(Date.now() / 1000) - 3600;
const line = (...fields: (string | number)[]): string => fields.join('\t');

/** Every value below is unique, so a response or a column that leaks one is caught. */
const BILI_FILE = [
  '# Netscape HTTP Cookie File',
  line('.bilibili.com', 'TRUE', '/', 'TRUE', FUTURE, 'SESSDATA', 'sess-value-7f3a'),
  line('#HttpOnly_.bilibili.com', 'TRUE', '/', 'FALSE', LATER, 'bili_jct', 'jct-value-91c2'),
  line('.bilibili.com', 'TRUE', '/x/player/', 'TRUE', 0, 'player_only', 'player-value-22d1'),
  line('www.bilibili.com', 'FALSE', '/', 'TRUE', 0, 'www_only', 'www-value-5e0b'),
  line('.bilibili.com', 'TRUE', '/', 'TRUE', PAST, 'expired', 'expired-value-0a9f'),
  line('.example.org', 'TRUE', '/', 'TRUE', 0, 'unrelated', 'unrelated-value-6b44'),
  '',
].join('\r\n');
const VALUES = [...BILI_FILE.matchAll(/\t([a-z]+-value-[0-9a-f]{4})/g)].map((m) => m[1]!);

const BV = 'BV1Et4y1r7Eu';
const BV_URL = `https://www.bilibili.com/video/${BV}`;
const YT_URL = 'https://www.youtube.com/watch?v=7PIMiDcwNvc';
const cookiesPath = (platform: string): string => `/api/v2/platforms/${platform}/cookies`;

let replay: ReplayServer;

async function put(server: TestServer, who: TestUser | null, platform: string, body: unknown): Promise<Response> {
  const f = who ? who.fetch : fetch;
  return f(server.url + cookiesPath(platform), {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function statusOf(server: TestServer, platform: string): Promise<any> {
  const res = await server.fetch(server.url + cookiesPath(platform));
  expect(res.status).toBe(200);
  return res.json();
}

/** Extracts with refresh=true and returns the platform requests it made. */
async function extract(server: TestServer, url: string): Promise<RecordedRequest[]> {
  const before = replay.requests.length;
  const res = await server.fetch(`${server.url}/api/v2/videos/info?refresh=true&url=${encodeURIComponent(url)}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return replay.requests.slice(before);
}

/** The cookie names a request carried, in order. */
const names = (r: RecordedRequest): string[] =>
  String(r.headers.cookie ?? '')
    .split('; ')
    .filter(Boolean)
    .map((c) => c.split('=')[0]!);

function expectBilibiliCookies(requests: RecordedRequest[]): void {
  const api = requests.filter((r) => r.host === 'api.bilibili.com');
  expect(api.length).toBeGreaterThanOrEqual(3);
  for (const r of api) {
    // host api.bilibili.com: not the www-only cookie, not the expired one, not another domain's
    const expected = r.path.startsWith('/x/player/')
      ? ['player_only', 'SESSDATA', 'bili_jct']
      : ['SESSDATA', 'bili_jct'];
    expect({ path: r.path, names: names(r) }).toEqual({ path: r.path, names: expected });
    expect(r.headers.cookie).toContain('SESSDATA=sess-value-7f3a');
    expect(r.headers.referer).toBe('https://www.bilibili.com/');
  }
  expect(api.some((r) => r.path.startsWith('/x/player/'))).toBe(true);
  expect(api.some((r) => !r.path.startsWith('/x/player/'))).toBe(true);
}

beforeAll(async () => {
  replay = await startReplayServer([], ['body.context.client.clientVersion']);
});
afterAll(async () => {
  await replay?.stop();
});

describe('embedded server', () => {
  let server: TestServer;
  let user: TestUser;

  beforeAll(async () => {
    server = await startTestServer('embedded', { YTBH_UPSTREAM_REWRITE: replay.url });
    user = await createTestUser(server.services, 'user');
  }, 120_000);
  afterAll(async () => {
    await server?.close();
  });
  beforeEach(async () => {
    for (const p of PLATFORMS) await server.services.cookies.remove(p);
  });

  it('admin PUT stores the file and answers its status, never a value', async () => {
    const res = await put(server, server.owner, 'bilibili', { cookies: BILI_FILE });
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const v of VALUES) expect(text).not.toContain(v);
    const body = JSON.parse(text);
    expect(body).toEqual({
      platform: 'bilibili',
      present: true,
      cookie_count: 6,
      domains: ['bilibili.com', 'example.org', 'www.bilibili.com'],
      earliest_expiry: new Date(PAST * 1000).toISOString(),
      updated_at: expect.any(String),
      updated_by: server.owner.id,
    });

    const getRes = await server.fetch(server.url + cookiesPath('bilibili'));
    const getText = await getRes.text();
    for (const v of VALUES) expect(getText).not.toContain(v);
    expect(getText).not.toContain('SESSDATA');
    expect(JSON.parse(getText)).toEqual(body);

    const audit = await server.services.database.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'admin.cookies_set')
      .where('target_id', '=', 'bilibili')
      .execute();
    expect(audit.at(-1)).toMatchObject({ actor_id: server.owner.id, target_type: 'platform_cookies' });
    expect(JSON.stringify(audit)).not.toContain('sess-value');
  });

  it('GET of a platform without cookies says so', async () => {
    expect(await statusOf(server, 'twitch')).toEqual({
      platform: 'twitch',
      present: false,
      cookie_count: 0,
      domains: [],
      earliest_expiry: null,
      updated_at: null,
      updated_by: null,
    });
  });

  it('users get 403 and anonymous callers 401 on every method', async () => {
    for (const [who, status] of [
      [user, 403],
      [null, 401],
    ] as const) {
      const f = who ? who.fetch : fetch;
      expect((await put(server, who, 'bilibili', { cookies: BILI_FILE })).status).toBe(status);
      expect((await f(server.url + cookiesPath('bilibili'))).status).toBe(status);
      expect((await f(server.url + cookiesPath('bilibili'), { method: 'DELETE' })).status).toBe(status);
    }
    expect((await statusOf(server, 'bilibili')).present).toBe(false);
  });

  it('a bad file is a 400 naming the line, and changes nothing', async () => {
    expect((await put(server, server.owner, 'bilibili', { cookies: BILI_FILE })).status).toBe(200);
    const before = await statusOf(server, 'bilibili');
    const bad = `${BILI_FILE}${line('.bilibili.com', 'TRUE', '/', 'TRUE', 'tomorrow', 'x', 'y')}\r\n`;
    const res = await put(server, server.owner, 'bilibili', { cookies: bad });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body).toEqual({
      error: {
        code: 'validation_failed',
        message: expect.stringMatching(/^Cookie file line 8: expires/),
        details: { line: 8 },
      },
    });
    expect(await statusOf(server, 'bilibili')).toEqual(before);
  });

  it.each([
    ['an unknown platform', 'myspace', { cookies: 'x' }],
    ['an extra property', 'bilibili', { cookies: BILI_FILE, extra: 1 }],
    ['no cookies property', 'bilibili', {}],
    ['an empty file', 'bilibili', { cookies: '' }],
    ['only comments', 'bilibili', { cookies: '# Netscape HTTP Cookie File\n' }],
  ])('%s → 400', async (_name, platform, body) => {
    const res = await put(server, server.owner, platform, body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toMatch(/^validation_failed$/);
  });

  it('a file over 1 MiB is refused', async () => {
    const big = `# ${'x'.repeat(1024 * 1024)}\n${BILI_FILE}`;
    const res = await put(server, server.owner, 'bilibili', { cookies: big });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('validation_failed');
    expect((await statusOf(server, 'bilibili')).present).toBe(false);
  });

  it('the column holds ciphertext bound to its platform', async () => {
    expect((await put(server, server.owner, 'bilibili', { cookies: BILI_FILE })).status).toBe(200);
    const db = server.services.database.db;
    const row = await db
      .selectFrom('platform_cookies')
      .selectAll()
      .where('platform', '=', 'bilibili')
      .executeTakeFirstOrThrow();
    for (const v of VALUES) expect(row.cookies_enc).not.toContain(v);
    expect(row.cookies_enc).not.toContain('SESSDATA');
    expect(row.cookies_enc.startsWith(`v1.${server.services.cipher.currentKeyId}.`)).toBe(true);
    const cipher = server.services.cipher;
    expect(cipher.decrypt(row.cookies_enc, 'platform_cookies:bilibili')).toContain('sess-value-7f3a');
    expect(() => cipher.decrypt(row.cookies_enc, 'platform_cookies:youtube')).toThrow(DecryptError);

    // Copied into another platform's row, it is refused, and extraction there goes on without cookies.
    await db
      .insertInto('platform_cookies')
      .values({ platform: 'youtube', cookies_enc: row.cookies_enc, updated_by: null, updated_at: new Date() })
      .execute();
    const res = await server.fetch(server.url + cookiesPath('youtube'));
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('internal_error');
    const yt = await extract(server, YT_URL);
    expect(yt.length).toBeGreaterThan(0);
    expect(yt.every((r) => r.headers.cookie === undefined)).toBe(true);
  });

  it('extraction sends each request only the cookies for its host, path and scheme', async () => {
    expect((await put(server, server.owner, 'bilibili', { cookies: BILI_FILE })).status).toBe(200);
    expectBilibiliCookies(await extract(server, BV_URL));

    // another platform's requests get none of them
    const yt = await extract(server, YT_URL);
    expect(yt.length).toBeGreaterThan(0);
    expect(yt.every((r) => r.headers.cookie === undefined)).toBe(true);
  });

  it('DELETE removes them (204, audited); extraction stops sending them; a second DELETE is 404', async () => {
    expect((await put(server, server.owner, 'bilibili', { cookies: BILI_FILE })).status).toBe(200);
    expectBilibiliCookies(await extract(server, BV_URL));

    const del = await server.fetch(server.url + cookiesPath('bilibili'), { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect((await statusOf(server, 'bilibili')).present).toBe(false);
    const after = await extract(server, BV_URL);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((r) => r.headers.cookie === undefined)).toBe(true);

    const again = await server.fetch(server.url + cookiesPath('bilibili'), { method: 'DELETE' });
    expect(again.status).toBe(404);
    const audit = await server.services.database.db
      .selectFrom('audit_log')
      .select(['actor_id', 'target_id'])
      .where('action', '=', 'admin.cookies_deleted')
      .execute();
    expect(audit).toEqual([{ actor_id: server.owner.id, target_id: 'bilibili' }]);
  });

  it('a new upload replaces the cookies in use', async () => {
    expect((await put(server, server.owner, 'bilibili', { cookies: BILI_FILE })).status).toBe(200);
    expectBilibiliCookies(await extract(server, BV_URL));
    const replacement = line('.bilibili.com', 'TRUE', '/', 'TRUE', 0, 'SESSDATA', 'replaced');
    expect((await put(server, server.owner, 'bilibili', { cookies: replacement })).status).toBe(200);
    const api = (await extract(server, BV_URL)).filter((r) => r.host === 'api.bilibili.com');
    expect(api.length).toBeGreaterThan(0);
    expect(api.every((r) => r.headers.cookie === 'SESSDATA=replaced')).toBe(true);
  });
});

describe('distributed: two processes sharing PostgreSQL and Redis', () => {
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    a = await startTestServer('distributed', { YTBH_UPSTREAM_REWRITE: replay.url });
    b = await startTestServer('distributed', { YTBH_UPSTREAM_REWRITE: replay.url }, { share: { from: a } });
  }, 120_000);
  afterAll(async () => {
    await a?.close();
  });

  it('an upload and a delete on one process are used by the other on its next extraction', async () => {
    // b has read (and cached) "no cookies" first
    const none = await extract(b, BV_URL);
    expect(none.every((r) => r.headers.cookie === undefined)).toBe(true);

    expect((await put(a, a.owner, 'bilibili', { cookies: BILI_FILE })).status).toBe(200);
    expectBilibiliCookies(await extract(b, BV_URL));
    expect((await statusOf(b, 'bilibili')).cookie_count).toBe(6);

    const replacement = line('.bilibili.com', 'TRUE', '/', 'TRUE', 0, 'SESSDATA', 'second');
    expect((await put(a, a.owner, 'bilibili', { cookies: replacement })).status).toBe(200);
    const api = (await extract(b, BV_URL)).filter((r) => r.host === 'api.bilibili.com');
    expect(api.length).toBeGreaterThan(0);
    expect(api.every((r) => r.headers.cookie === 'SESSDATA=second')).toBe(true);

    expect((await a.fetch(a.url + cookiesPath('bilibili'), { method: 'DELETE' })).status).toBe(204);
    const after = await extract(b, BV_URL);
    expect(after.every((r) => r.headers.cookie === undefined)).toBe(true);
  });
});
