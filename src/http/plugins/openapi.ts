/** OpenAPI 3 document built from the route schemas, served as JSON and as interactive docs at /docs. */
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { ERROR_STATUS } from '../../errors/app-error.js';
import { policyFor } from '../../accounts/policy.js';

type Security = Record<string, string[]>[];

/** What an operation accepts, from the same table the auth hook enforces. */
export function securityFor(method: string, url: string): Security | undefined {
  const policy = policyFor(method, url);
  if (!policy) return undefined;
  if (policy.rule === 'public') return [];
  // A leaked API key must not change the password or mint keys: those take a session's bearer token.
  const schemes: Security = policy.rule === 'session' ? [{ bearerAuth: [] }] : [{ bearerAuth: [] }, { apiKey: [] }];
  if (policy.queryToken) schemes.push({ accessToken: [] });
  return schemes;
}

export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  const codes = Object.entries(ERROR_STATUS)
    .map(([code, status]) => `\`${code}\` (${status})`)
    .join(', ');
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'YouTuberBilBiliHelper API',
        version,
        description:
          'Video information, downloads and streaming for YouTube, BiliBili, Twitch, TikTok and any site yt-dlp supports.\n\n' +
          `Every error has the body \`{"error":{"code","message","details"}}\`. Codes: ${codes}.\n\n` +
          'Requests are rate limited per minute, per signed-in user or else per IP address (sign-in and sign-up per IP, ' +
          'more strictly). Responses carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`; a 429 ' +
          '`rate_limited` carries `Retry-After` (seconds).',
      },
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'The access token from POST /api/v2/auth/login (or /register, /refresh)',
          },
          apiKey: {
            type: 'apiKey',
            in: 'header',
            name: 'X-API-Key',
            description:
              'An API key (`ytbh_…`) from POST /api/v2/users/me/api-keys; also accepted as `Authorization: Bearer`',
          },
          accessToken: {
            type: 'apiKey',
            in: 'query',
            name: 'access_token',
            description:
              'The access token or API key as a query parameter, for GET routes that players, <video>, EventSource and WebSocket load',
          },
        },
      },
      tags: [
        { name: 'system', description: 'Health, readiness, build information' },
        { name: 'videos', description: 'Video information and formats' },
        { name: 'playlists', description: 'Playlist information' },
        { name: 'downloads', description: 'Download tasks, files and live progress' },
        { name: 'stream', description: 'Streaming proxy: direct URLs, relayed media with Range, embeddable player' },
        { name: 'platforms', description: 'Supported platforms' },
        { name: 'legacy', description: 'The original simple API, kept for its clients' },
      ],
    },
    transform: ({ schema, url, route }) => {
      const security = securityFor([route.method].flat()[0] ?? 'GET', route.url);
      return { schema: security === undefined ? schema : { ...(schema ?? {}), security }, url };
    },
    refResolver: { buildLocalReference: (json, _base, _frag, i) => (json.$id as string) ?? `def-${i}` },
  });
  // No staticCSP: the global CSP (plugins/security.ts) already fits Swagger UI, and the plugin's
  // own adds upgrade-insecure-requests, which breaks /docs on a plain-http install.
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/api/v2/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
