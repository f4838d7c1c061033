import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Services } from '../../app/services.js';
import { errorBody } from '../../errors/app-error.js';
import { errorResponses } from '../schemas/common.js';
import { systemUsage } from '../../accounts/quotas.js';
import { allows } from '../../accounts/policy.js';

const Health = Type.Object({
  status: Type.Literal('ok'),
  version: Type.String(),
  role: Type.String(),
  uptime_s: Type.Number(),
});

const Checks = Type.Record(Type.String(), Type.String());
const Count = Type.Integer({ minimum: 0 });

const Info = Type.Object({
  name: Type.String(),
  version: Type.String(),
  role: Type.String(),
  node: Type.String(),
  backends: Type.Object({
    database: Type.Union([Type.Literal('pglite'), Type.Literal('postgres')]),
    cache: Type.Union([Type.Literal('memory'), Type.Literal('redis')]),
  }),
  tools: Type.Object({ ytdlp: Type.String(), ffmpeg: Type.String() }),
  upstream_rewrite: Type.Boolean(),
  // Instance-wide figures: other users' activity, so admins only.
  queue: Type.Optional(
    Type.Object(
      {
        queued: Count,
        running: Type.Integer({ minimum: 0, description: 'being extracted, downloaded or processed now' }),
      },
      { description: 'Admins only: download tasks waiting and running, all users (playlist parents not counted)' },
    ),
  ),
  storage: Type.Optional(
    Type.Object(
      {
        backend: Type.Union([Type.Literal('local'), Type.Literal('s3')]),
        used_bytes: Type.Integer({ minimum: 0, description: 'file sizes of all completed downloads' }),
        files: Type.Integer({ minimum: 0, description: 'completed downloads with a stored file' }),
      },
      { description: 'Admins only: what downloads occupy in storage' },
    ),
  ),
});

const CHECK_TIMEOUT_MS = 2000;

async function check(fn: () => Promise<void>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([fn(), timeout]);
    return 'ok';
  } catch (err) {
    return `error: ${(err as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

export function systemRoutes(services: Services): FastifyPluginAsyncTypebox {
  const started = Date.now();
  return async (app) => {
    app.get(
      '/api/v2/system/health',
      {
        schema: { tags: ['system'], summary: 'Liveness: the process answers', response: { 200: Health } },
      },
      async () => ({
        status: 'ok' as const,
        version: services.version,
        role: services.config.role,
        uptime_s: Math.round((Date.now() - started) / 1000),
      }),
    );

    app.get(
      '/api/v2/system/ready',
      {
        schema: {
          tags: ['system'],
          summary: 'Readiness: database and cache answer',
          response: { 200: Type.Object({ status: Type.Literal('ready'), checks: Checks }), ...errorResponses(503) },
        },
      },
      async (_req, reply) => {
        const [database, cache] = await Promise.all([
          check(() => services.database.ping()),
          check(() => services.cache.ping()),
        ]);
        const checks = { database, cache };
        const failing = Object.entries(checks)
          .filter(([, v]) => v !== 'ok')
          .map(([k]) => k);
        if (failing.length) {
          return reply
            .status(503)
            .send(errorBody('not_ready', `Not ready: ${failing.join(' and ')} unavailable`, { failing, checks }));
        }
        return { status: 'ready' as const, checks };
      },
    );

    app.get(
      '/api/v2/system/info',
      {
        schema: {
          tags: ['system'],
          summary: 'Version, role, active backends and tool versions; for admins also queue depth and storage used',
          response: { 200: Info },
        },
      },
      async (req) => {
        const usage = allows('admin', req.principal ?? null) ? await systemUsage(services.database.db) : null;
        return {
          name: 'ytbh',
          version: services.version,
          role: services.config.role,
          node: process.version,
          backends: { database: services.database.kind, cache: services.cache.kind },
          tools: await services.tools(),
          upstream_rewrite: Boolean(services.config.upstreamRewrite),
          ...(usage ? { queue: usage.queue, storage: { backend: services.storage.kind, ...usage.storage } } : {}),
        };
      },
    );
  };
}
