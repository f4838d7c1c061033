/**
 * HTTP hardening: security headers (helmet, CSP), the CORS allowlist, the
 * request-URL limit and HSTS on TLS only. Oversized headers never reach us:
 * Node refuses them (431) before Fastify sees the request.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';
import helmet, { type FastifyHelmetOptions } from '@fastify/helmet';
import cors from '@fastify/cors';
import type { Services } from '../../app/services.js';
import { AppError } from '../../errors/app-error.js';
import { policyFor } from '../../accounts/policy.js';

/** Longest request target (path + query) we read; Node's own header limit (16 KiB) covers the rest. */
export const MAX_URL_BYTES = 8 * 1024;

/**
 * What the dashboard (a same-origin Vite build, no inline scripts) and Swagger
 * UI under /docs (external scripts, inline styles, data: images) both run
 * under, so /docs needs no policy of its own. No upgrade-insecure-requests:
 * on a plain-http LAN install it would send every asset request to https and
 * break the page. font-src allows data: because Vite inlines small fonts.
 */
export const CSP_DIRECTIVES: Record<string, string[]> = {
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  'style-src': ["'self'", "'unsafe-inline'"],
  'img-src': ["'self'", 'data:', 'blob:', 'https:'],
  'media-src': ["'self'", 'blob:'],
  'font-src': ["'self'", 'data:'],
  'connect-src': ["'self'", 'ws:', 'wss:'],
  'manifest-src': ["'self'"],
  'worker-src': ["'self'"],
  'frame-ancestors': ["'none'"],
  'object-src': ["'none'"],
  'base-uri': ["'self'"],
  'form-action': ["'self'"],
};

/**
 * HSTS only over TLS (directly, or as a trusted proxy's X-Forwarded-Proto
 * says): browsers ignore it on plain http anyway (RFC 6797 §8.1), and a
 * loopback or LAN install served over http should not claim to be https-only.
 */
const HSTS = 'max-age=31536000; includeSubDomains';

export const CORS_EXPOSED_HEADERS = [
  'Location',
  'Content-Disposition',
  'Content-Range',
  'Content-Length',
  'Accept-Ranges',
  'ETag',
  'X-Request-Id',
  'X-Cache',
  'RateLimit-Limit',
  'RateLimit-Remaining',
  'RateLimit-Reset',
  'Retry-After',
];

const CORS_ALLOWED_HEADERS = [
  'Authorization',
  'Content-Type',
  'X-API-Key',
  'X-Request-Id',
  'Range',
  'If-Range',
  'If-None-Match',
  'If-Modified-Since',
  'Last-Event-ID',
];

type RouteHelmet = Omit<FastifyHelmetOptions, 'global' | 'enableCSPNonces'>;

/** Per-route exceptions to the global headers. */
function helmetFor(route: Pick<RouteOptions, 'url' | 'method'>): RouteHelmet | undefined {
  const method = [route.method].flat()[0] ?? 'GET';
  if (route.url === '/api/v2/stream/embed/:platform/:video_id') {
    // Meant to be framed by other sites; the route sets its own, stricter CSP for the page.
    return { contentSecurityPolicy: false, frameguard: false, crossOriginResourcePolicy: { policy: 'cross-origin' } };
  }
  if (policyFor(method, route.url)?.queryToken) {
    // Media, files and event streams other origins load with <video src>, <img>, EventSource:
    // same-origin CORP would make the browser drop them.
    return { crossOriginResourcePolicy: { policy: 'cross-origin' } };
  }
  return undefined;
}

/** CORS_ORIGINS entries as browsers send them in Origin (scheme://host[:port], no path). */
function normalizeOrigins(list: string[]): { any: boolean; origins: Set<string> } {
  const origins = new Set<string>();
  let any = false;
  for (const entry of list) {
    if (entry === '*') any = true;
    else {
      try {
        origins.add(new URL(entry).origin);
      } catch {
        origins.add(entry);
      }
    }
  }
  return { any, origins };
}

export async function registerSecurity(app: FastifyInstance, services: Services): Promise<void> {
  // Runs before helmet's own onRoute hook, which turns `route.helmet` into the route's config.
  app.addHook('onRoute', (route) => {
    const h = helmetFor(route);
    if (h) route.helmet = h;
  });

  await app.register(helmet, {
    global: true,
    contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
    strictTransportSecurity: false,
    // The legacy twin of frame-ancestors 'none', for browsers that predate CSP 2.
    frameguard: { action: 'deny' },
  });

  const { any, origins } = normalizeOrigins(services.config.corsOrigins);
  if (any || origins.size > 0) {
    // Bearer tokens and API keys are headers, not ambient cookies: no credentials mode.
    await app.register(cors, {
      origin: (origin, cb) => cb(null, origin !== undefined && (any || origins.has(origin))),
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: CORS_ALLOWED_HEADERS,
      exposedHeaders: CORS_EXPOSED_HEADERS,
      maxAge: 600,
      strictPreflight: false,
    });
    // The cors hook answered every preflight from an allowed origin; one that is still here was refused.
    app.addHook('onRequest', async (req) => {
      if (req.method !== 'OPTIONS' || req.routeOptions.url !== '*') return;
      const origin = req.headers.origin;
      if (typeof origin !== 'string') throw new AppError('bad_request', 'OPTIONS is only for CORS preflight requests');
      throw new AppError('forbidden', 'This origin may not call the API (CORS_ORIGINS)', {
        origin: origin.slice(0, 200),
      });
    });
  }

  app.addHook('onRequest', async (req, reply) => {
    if (req.raw.url && req.raw.url.length > MAX_URL_BYTES) {
      throw new AppError('uri_too_long', `The request URL is longer than ${MAX_URL_BYTES} bytes`, {
        max_bytes: MAX_URL_BYTES,
      });
    }
    if (req.protocol === 'https') reply.header('strict-transport-security', HSTS);
  });
}
