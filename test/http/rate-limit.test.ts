/**
 * Request rate limits on the real server: per signed-in user, per anonymous
 * IP, stricter per-IP limits on sign-in and sign-up, the draft-spec headers,
 * our 429 body, the exempt probes, and one limit across two api processes
 * sharing Redis.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';
import { createTestUser, fetchWith } from '../support/auth.js';

let ipCounter = 0;
/** A fresh client address per test: the server trusts 127.0.0.1 as a proxy, so X-Forwarded-For names the client. */
const freshIp = () => `198.51.100.${++ipCounter}`;

interface ErrorBody {
  error: { code: string; message: string; details?: { retry_after?: number; limit?: number } };
}

function expectRateLimited(res: Response, body: ErrorBody, limit: number) {
  expect(res.status).toBe(429);
  expect(body.error.code).toBe('rate_limited');
  expect(body.error.message).toMatch(/retry in \d+ s/);
  expect(body.error.details?.limit).toBe(limit);
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(body.error.details?.retry_after).toBe(retryAfter);
  expect(res.headers.get('ratelimit-limit')).toBe(String(limit));
  expect(res.headers.get('ratelimit-remaining')).toBe('0');
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
}

describe('rate limits (embedded)', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer('embedded', {
      RATE_LIMIT: '5',
      RATE_LIMIT_ANONYMOUS: '3',
      RATE_LIMIT_AUTH: '2',
      TRUST_PROXY: '127.0.0.1',
    });
  });
  afterAll(async () => {
    await server.close();
  });

  const get = (path: string, headers: Record<string, string>) => fetch(server.url + path, { headers });

  it('limits a signed-in user per account, with RateLimit-* headers counting down', async () => {
    const user = await createTestUser(server.services, 'user');
    const ip = freshIp();
    for (let i = 0; i < 5; i++) {
      const res = await get('/api/v2/platforms', { ...user.headers, 'x-forwarded-for': ip });
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-limit')).toBe('5');
      expect(res.headers.get('ratelimit-remaining')).toBe(String(4 - i));
      const reset = Number(res.headers.get('ratelimit-reset'));
      expect(reset).toBeGreaterThan(0);
      expect(reset).toBeLessThanOrEqual(60);
      expect(res.headers.get('retry-after')).toBeNull();
    }
    // The bucket is the account: another address does not get a new one.
    const over = await get('/api/v2/platforms', { ...user.headers, 'x-forwarded-for': freshIp() });
    expectRateLimited(over, (await over.json()) as ErrorBody, 5);

    // Another account, and anonymous callers from the same address, are unaffected.
    const other = await createTestUser(server.services, 'user');
    const res = await get('/api/v2/platforms', { ...other.headers, 'x-forwarded-for': ip });
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-remaining')).toBe('4');
    const anon = await get('/api/v2/platforms', { 'x-forwarded-for': ip });
    expect(anon.status).toBe(200);
    expect(anon.headers.get('ratelimit-limit')).toBe('3');
  });

  it('limits anonymous callers per IP, and a signed-in user at that IP keeps their own budget', async () => {
    const ip = freshIp();
    for (let i = 0; i < 3; i++) expect((await get('/api/v2/platforms', { 'x-forwarded-for': ip })).status).toBe(200);
    const over = await get('/api/v2/platforms', { 'x-forwarded-for': ip });
    expectRateLimited(over, (await over.json()) as ErrorBody, 3);
    // Any /api route counts against the same bucket.
    expect((await get('/api/platforms', { 'x-forwarded-for': ip })).status).toBe(429);

    expect((await get('/api/v2/platforms', { 'x-forwarded-for': freshIp() })).status).toBe(200);
    const user = await createTestUser(server.services, 'user');
    const signedIn = await get('/api/v2/platforms', { ...user.headers, 'x-forwarded-for': ip });
    expect(signedIn.status).toBe(200);
    expect(signedIn.headers.get('ratelimit-limit')).toBe('5');
  });

  it('never limits health, readiness and metrics', async () => {
    const ip = freshIp();
    for (let i = 0; i < 4; i++) await get('/api/v2/platforms', { 'x-forwarded-for': ip });
    expect((await get('/api/v2/platforms', { 'x-forwarded-for': ip })).status).toBe(429);
    for (const path of ['/api/v2/system/health', '/api/v2/system/ready', '/metrics']) {
      for (let i = 0; i < 6; i++) {
        const res = await get(path, { 'x-forwarded-for': ip });
        expect(res.status, path).toBe(200);
        expect(res.headers.get('ratelimit-limit'), path).toBeNull();
      }
    }
  });

  it('sign-in and sign-up share a stricter per-IP budget of their own', async () => {
    const ip = freshIp();
    const post = (path: string, body: unknown, from = ip) =>
      fetch(server.url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': from },
        body: JSON.stringify(body),
      });
    const first = await post('/api/v2/auth/login', { login: 'nobody', password: 'wrong password' });
    expect(first.status).toBe(401);
    expect(first.headers.get('ratelimit-limit')).toBe('2');
    expect(first.headers.get('ratelimit-remaining')).toBe('1');
    const second = await post('/api/v2/auth/register', { username: 'x', email: 'not-an-email', password: 'short' });
    expect(second.status).toBe(400);
    expect(second.headers.get('ratelimit-remaining')).toBe('0');
    const over = await post('/api/v2/auth/login', { login: 'nobody', password: 'wrong password' });
    expectRateLimited(over, (await over.json()) as ErrorBody, 2);
    // Even with the right password: the limit is on attempts, before any is checked.
    const user = await createTestUser(server.services, 'user');
    expect((await post('/api/v2/auth/login', { login: user.username, password: user.password })).status).toBe(429);

    // That address can still use the rest of the API (its own budget), and other addresses can sign in.
    const anon = await get('/api/v2/platforms', { 'x-forwarded-for': ip });
    expect(anon.status).toBe(200);
    expect(anon.headers.get('ratelimit-limit')).toBe('3');
    const ok = await post('/api/v2/auth/login', { login: user.username, password: user.password }, freshIp());
    expect(ok.status).toBe(200);
  });

  it('a concurrent burst gets exactly the limit through', async () => {
    const user = await createTestUser(server.services, 'user');
    const results = await Promise.all(
      Array.from({ length: 12 }, () => get('/api/v2/platforms', user.headers).then((r) => r.status)),
    );
    expect(results.filter((s) => s === 200)).toHaveLength(5);
    expect(results.filter((s) => s === 429)).toHaveLength(7);
  });
});

describe('rate limits across two api processes sharing Redis', () => {
  let first: TestServer;
  let second: TestServer;

  beforeAll(async () => {
    first = await startTestServer('distributed', { RATE_LIMIT: '20' });
    second = await startTestServer('distributed', { RATE_LIMIT: '20' }, { share: { from: first } });
  });
  afterAll(async () => {
    await first?.close();
  });

  it('a burst split over both processes never exceeds the limit', async () => {
    const user = await createTestUser(first.services, 'user');
    const f = fetchWith(user.headers);
    const statuses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        f(`${(i % 2 ? second : first).url}/api/v2/platforms`).then((r) => ({ via: i % 2, status: r.status })),
      ),
    );
    expect(statuses.filter((s) => s.status === 200)).toHaveLength(20);
    expect(statuses.filter((s) => s.status === 429)).toHaveLength(30);
    // Both processes refused some: they counted in one bucket, not 20 each.
    expect(statuses.filter((s) => s.status === 429 && s.via === 0).length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s.status === 429 && s.via === 1).length).toBeGreaterThan(0);

    // The bucket is `rate_limit:user:{id}` inside the deployment's key prefix.
    const { redisUrl, cacheKeyPrefix } = first.backends!;
    const redis = new Redis(redisUrl);
    try {
      expect(await redis.get(`${cacheKeyPrefix}rate_limit:user:${user.id}`)).toBe('50');
      const ttl = await redis.pttl(`${cacheKeyPrefix}rate_limit:user:${user.id}`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
    } finally {
      redis.disconnect();
    }
  });

  it('anonymous callers are counted per IP across both processes', async () => {
    const statuses: number[] = [];
    // The default anonymous limit (120/min): both processes together allow no more.
    for (let i = 0; i < 124; i++) {
      statuses.push((await fetch(`${(i % 2 ? second : first).url}/api/v2/platforms`)).status);
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(120);
    expect(statuses.slice(120)).toEqual([429, 429, 429, 429]);
  });
});
