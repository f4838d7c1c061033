/** OpenAPI 3 document built from the route schemas, served as JSON and as interactive docs at /docs. */
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { ERROR_STATUS } from '../../errors/app-error.js';

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
          `Every error has the body \`{"error":{"code","message","details"}}\`. Codes: ${codes}.`,
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
    refResolver: { buildLocalReference: (json, _base, _frag, i) => (json.$id as string) ?? `def-${i}` },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  app.get('/api/v2/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
