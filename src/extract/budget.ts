/**
 * Outbound budget per platform, as fixed windows counted in the cache
 * (platform_limit:{platform}:{window}). The counter is incremented before
 * the upstream call, so a burst can never exceed the budget, even across
 * processes sharing Redis.
 */
import type { Budget } from '../config/platform-map.js';
import { AppError } from '../errors/app-error.js';
import type { Cache } from '../infra/cache/cache.js';
import type { Platform } from './model.js';

export async function takeBudget(
  cache: Cache,
  platform: Platform,
  budget: Budget | undefined,
  now = Date.now(),
): Promise<void> {
  if (!budget) return;
  const window = Math.floor(now / 1000 / budget.windowSeconds);
  const used = await cache.incr(`platform_limit:${platform}:${window}`, budget.windowSeconds + 1);
  if (used > budget.requests) {
    const retryAfter = Math.max(1, Math.ceil((window + 1) * budget.windowSeconds - now / 1000));
    throw new AppError('rate_limited', `The outbound budget for ${platform} is used up; try again in ${retryAfter} s`, {
      platform,
      retry_after_s: retryAfter,
      budget: `${budget.requests}/${budget.windowSeconds}s`,
    });
  }
}
