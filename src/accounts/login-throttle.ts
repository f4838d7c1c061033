/**
 * Brute-force protection for login: failures are counted per client IP and
 * per account name (15 min window); from the 5th failure on, each further
 * attempt must wait twice as long as the last (1 s, 2 s, 4 s … capped at
 * 15 min), answered with 429 and Retry-After. A success clears the account's
 * counter. Counters live in the cache, so they hold across api processes.
 *
 * Past the free failures an attempt on an account first claims the wait it
 * would earn by failing (SET NX), so a burst of parallel guesses from many
 * addresses gets one through per wait, not one per request in flight.
 */
import { AppError } from '../errors/app-error.js';
import type { Cache } from '../infra/cache/index.js';

const WINDOW_SECONDS = 15 * 60;
const FREE_FAILURES = 4;
const MAX_DELAY_SECONDS = 15 * 60;

const keys = (ip: string | null, login: string) => [
  `login_fail:ip:${ip ?? 'unknown'}`,
  `login_fail:acct:${login.toLowerCase()}`,
];
const lockKey = (k: string) => `${k}:lock`;

/** Seconds to wait after the n-th failure (n > FREE_FAILURES). */
const delayAfter = (n: number) => Math.min(2 ** (n - FREE_FAILURES - 1), MAX_DELAY_SECONDS);

function throttled(ms: number): AppError {
  const retryAfter = Math.max(1, Math.ceil(ms / 1000));
  return new AppError('rate_limited', `Too many failed sign-ins: try again in ${retryAfter} s`, {
    retry_after: retryAfter,
  });
}

export async function assertLoginAllowed(cache: Cache, ip: string | null, login: string): Promise<void> {
  const [ipKey, accountKey] = keys(ip, login) as [string, string];
  for (const k of [ipKey, accountKey]) {
    const ms = await cache.ttlMs(lockKey(k));
    if (ms > 0) throw throttled(ms);
  }
  // Only the account claims: one IP's burst is already capped by RATE_LIMIT_AUTH, and a
  // success (which clears the account's wait) must not leave the IP waiting.
  const failures = Number((await cache.get(accountKey)) ?? 0);
  if (failures >= FREE_FAILURES && !(await cache.setIfAbsent(lockKey(accountKey), '1', delayAfter(failures + 1)))) {
    throw throttled(Math.max(await cache.ttlMs(lockKey(accountKey)), 1000));
  }
}

export async function recordLoginFailure(cache: Cache, ip: string | null, login: string): Promise<void> {
  for (const k of keys(ip, login)) {
    const n = await cache.incr(k, WINDOW_SECONDS);
    if (n > FREE_FAILURES) await cache.set(lockKey(k), '1', delayAfter(n));
  }
}

export async function recordLoginSuccess(cache: Cache, login: string): Promise<void> {
  const k = `login_fail:acct:${login.toLowerCase()}`;
  await cache.del(k);
  await cache.del(lockKey(k));
}
