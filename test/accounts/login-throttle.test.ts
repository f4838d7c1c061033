/**
 * Brute-force protection on POST /api/v2/auth/login, through the real server:
 * growing waits from the 5th failure, per account and per client IP, a
 * Retry-After header on every 429, sign-in working again after the wait, and
 * a parallel burst getting one guess through per wait.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';
import { createTestUser } from '../support/auth.js';

let server: TestServer;
let ipCounter = 0;
/** The server trusts 127.0.0.1 as a proxy, so X-Forwarded-For picks the client address. */
const freshIp = () => `203.0.113.${++ipCounter}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  // The per-IP request limit on sign-in is tested elsewhere; here only the throttle may answer 429.
  server = await startTestServer('embedded', { TRUST_PROXY: '127.0.0.1', RATE_LIMIT_AUTH: '10000' });
});
afterAll(async () => {
  await server.close();
});

async function login(loginName: string, password: string, ip = freshIp()) {
  const res = await fetch(`${server.url}/api/v2/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
    body: JSON.stringify({ login: loginName, password }),
  });
  const body = (await res.json()) as { error?: { code: string; message: string; details?: { retry_after?: number } } };
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body };
}

function expectThrottled(r: Awaited<ReturnType<typeof login>>, seconds: number) {
  expect(r.status).toBe(429);
  expect(r.body.error?.code).toBe('rate_limited');
  expect(r.retryAfter).toBe(String(seconds));
  expect(r.body.error?.details?.retry_after).toBe(seconds);
  expect(r.body.error?.message).toContain(`${seconds} s`);
}

describe('login throttle', () => {
  it('per account: from the 5th failure each attempt waits longer; the right password works after the wait', async () => {
    const user = await createTestUser(server.services, 'user');
    // Every attempt from a new address: only the account's counter can throttle.
    for (let i = 0; i < 5; i++) expect((await login(user.username, 'wrong password')).status).toBe(401);
    // Locked now, whatever the password, and whichever way the name is written.
    expectThrottled(await login(user.username, user.password), 1);
    expectThrottled(await login(user.username.toUpperCase(), 'wrong password'), 1);

    await sleep(1100);
    expect((await login(user.username, 'wrong password')).status).toBe(401); // 6th failure
    expectThrottled(await login(user.username, user.password), 2);
    await sleep(2100);

    const ok = await login(user.username, user.password);
    expect(ok.status).toBe(200);
    // Success clears the account's counter: the next mistake is a plain 401 again.
    expect((await login(user.username, 'wrong password')).status).toBe(401);
  });

  it('per IP: one address guessing many accounts is slowed down, other addresses are not', async () => {
    const ip = freshIp();
    for (let i = 0; i < 5; i++) expect((await login(`nobody${i}_${ip}`, 'wrong password', ip)).status).toBe(401);
    const user = await createTestUser(server.services, 'user');
    expectThrottled(await login(user.username, user.password, ip), 1);
    // The account itself is not locked: the same credentials from elsewhere work.
    expect((await login(user.username, user.password)).status).toBe(200);

    await sleep(1100);
    expect((await login('nobody-else', 'wrong password', ip)).status).toBe(401);
    expectThrottled(await login(user.username, user.password, ip), 2);
  });

  it('a parallel burst against one account gets a single guess through per wait', async () => {
    const user = await createTestUser(server.services, 'user');
    for (let i = 0; i < 4; i++) expect((await login(user.username, 'wrong password')).status).toBe(401);
    // The 4 free failures are spent: 10 guesses at once from 10 addresses.
    const burst = await Promise.all(Array.from({ length: 10 }, () => login(user.username, 'wrong password')));
    expect(burst.filter((r) => r.status === 401)).toHaveLength(1);
    const refused = burst.filter((r) => r.status === 429);
    expect(refused).toHaveLength(9);
    for (const r of refused) expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
  });
});
