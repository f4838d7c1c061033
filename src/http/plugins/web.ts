/**
 * The web dashboard (web/dist): static files under `/`, the SPA's index.html
 * for its client-side routes.
 *
 * Explicit routes rather than a `GET /*` wildcard: a catch-all would turn
 * every unknown API path into "GET is allowed here" (405) and hide real
 * 404s; named routes also get their entries in the access policy. Files are
 * looked up per request, so a build made after start is served, and a
 * checkout that never built the web still starts (a short page says how).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Services } from '../../app/services.js';
import { errorBody } from '../../errors/app-error.js';

/** src/http/plugins or dist/http/plugins → the package root. */
export const WEB_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../web/dist');

/** The SPA's pages (web/src/app/routes.ts); each answers with index.html. */
export const SPA_ROUTES = ['/', '/setup', '/login', '/register', '/queue', '/library', '/settings', '/admin'];

/** Vite's hashed bundle names: a changed file gets a new name, so these never go stale. */
const IMMUTABLE = { maxAge: '365d', immutable: true } as const;
/** Unhashed names that must be revalidated so a new release is picked up. */
const REVALIDATE = { cacheControl: false } as const;
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ytbh</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>ytbh</h1>
<p>The web dashboard has not been built. Run <code>npm run build</code> (or <code>npm run build:web</code>), then reload.</p>
<p>The API is at <a href="/docs">/docs</a>.</p></main></body></html>
`;

export async function registerWeb(app: FastifyInstance, _services: Services, root = WEB_DIST): Promise<void> {
  await app.register(fastifyStatic, { root, serve: false });

  const send = (reply: FastifyReply, file: string, cache: 'immutable' | 'day' | 'revalidate') => {
    if (!existsSync(path.join(root, 'index.html'))) {
      return reply
        .status(404)
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(NOT_BUILT_PAGE);
    }
    if (!existsSync(path.join(root, file))) {
      return reply.status(404).send(errorBody('not_found', `No such file: /${file}`));
    }
    if (cache === 'immutable') return reply.sendFile(file, IMMUTABLE);
    if (cache === 'day') return reply.sendFile(file, { maxAge: '1d' });
    reply.header('cache-control', 'no-cache');
    return reply.sendFile(file, REVALIDATE);
  };

  const hide = { schema: { hide: true } };
  for (const route of SPA_ROUTES) app.get(route, hide, (_req, reply) => send(reply, 'index.html', 'revalidate'));
  app.get('/manifest.webmanifest', hide, (_req, reply) => {
    reply.type('application/manifest+json');
    return send(reply, 'manifest.webmanifest', 'revalidate');
  });
  // The service worker must be revalidated: browsers also cap its HTTP caching at a day, but no-cache is immediate.
  app.get('/sw.js', hide, (_req, reply) => send(reply, 'sw.js', 'revalidate'));
  for (const [dir, cache] of [
    ['assets', 'immutable'],
    ['icons', 'day'],
  ] as const) {
    app.get<{ Params: { file: string } }>(`/${dir}/:file`, hide, (req, reply) => {
      const { file } = req.params;
      if (!FILE_NAME.test(file) || file.includes('..')) {
        return reply.status(404).send(errorBody('not_found', 'No such file'));
      }
      return send(reply, `${dir}/${file}`, cache);
    });
  }
}
