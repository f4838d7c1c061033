/**
 * Request rate limits per minute: `rate_limit:user:{id}` for a signed-in
 * caller (RATE_LIMIT), `rate_limit:ip:{ip}` for anonymous ones
 * (RATE_LIMIT_ANONYMOUS), and a stricter `rate_limit:auth:{ip}` shared by
 * sign-in and sign-up (RATE_LIMIT_AUTH). With Redis the counters are shared,
 * so the limit holds across every api process; embedded keeps them in memory.
 *
 * The limiter runs as a route hook, after the auth hook, so it knows the caller.
 * Only /api routes are limited: health, readiness and metrics must answer
 * probes however busy a caller is, and static files (dashboard, /docs) are
 * cheap and fetched without credentials, which would spend the anonymous budget.
 */
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import type { Services } from '../../app/services.js';
import { AppError } from '../../errors/app-error.js';
import { RedisCache } from '../../infra/cache/redis-cache.js';

const WINDOW_MS = 60_000;

/** Probes and scrapers are never limited. */
export const RATE_LIMIT_EXEMPT = new Set(['/api/v2/system/health', '/api/v2/system/ready', '/metrics']);

/** Password guessing and account farming get their own, stricter per-IP budget. */
const AUTH_ROUTES = new Set(['POST /api/v2/auth/login', 'POST /api/v2/auth/register']);

function limited(route: Pick<RouteOptions, 'url' | 'method'>): boolean {
  const methods = [route.method].flat();
  return route.url.startsWith('/api/') && !RATE_LIMIT_EXEMPT.has(route.url) && !methods.includes('OPTIONS');
}

/** The bucket a request counts against. */
export function rateLimitKey(req: FastifyRequest): string {
  // IPv6 clients usually own a whole /64: one bucket per subnet, as the plugin does by default.
  const ip = normalizeIP(req.ip ?? 'unknown');
  if (AUTH_ROUTES.has(`${req.method} ${req.routeOptions.url ?? ''}`)) return `auth:${ip}`;
  if (req.principal) return `user:${req.principal.user.id}`;
  return `ip:${ip}`;
}

export async function registerRateLimit(app: FastifyInstance, services: Services): Promise<void> {
  const { config } = services;
  const maxFor = (key: string): number =>
    key.startsWith('auth:')
      ? config.rateLimitAuth
      : key.startsWith('user:')
        ? config.rateLimit
        : config.rateLimitAnonymous;

  // `config.rateLimit = false` makes the plugin skip the route; this hook runs before the plugin's own.
  app.addHook('onRoute', (route) => {
    if (!limited(route)) route.config = { ...(route.config ?? {}), rateLimit: false };
  });

  let redis: Redis | undefined;
  if (services.cache instanceof RedisCache) {
    // A connection of its own (same URL and key prefix as the cache), so the store's
    // Lua commands and the app's lifetime do not touch the cache's client.
    redis = services.cache.redis.duplicate();
    redis.on('error', (err: Error) => services.log.debug({ err }, 'rate limit redis error'));
    const client = redis;
    app.addHook('onClose', async () => {
      await client.quit().catch(() => client.disconnect());
    });
  }

  await app.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    timeWindow: WINDOW_MS,
    max: (_req, key) => maxFor(String(key)),
    keyGenerator: rateLimitKey,
    enableDraftSpec: true,
    // A Redis hiccup must not take the API down with it; the limit resumes when Redis does.
    skipOnError: true,
    ...(redis ? { redis, nameSpace: 'rate_limit:' } : {}),
    errorResponseBuilder: (_req, ctx) => {
      const retryAfter = Math.max(1, Math.ceil(ctx.ttl / 1000));
      return new AppError('rate_limited', `Too many requests (limit ${ctx.max} per minute): retry in ${retryAfter} s`, {
        retry_after: retryAfter,
        limit: ctx.max,
      });
    },
  });
}
