/**
 * Builds the Fastify app for a role. `api`/`all` get the public API; a
 * `worker` serves only health, readiness and metrics.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Services } from '../app/services.js';
import { registerErrorHandling } from './plugins/errors.js';
import { validatorFactory } from './plugins/validators.js';
import { ErrorResponse } from './schemas/common.js';
import { FormatSchema, PlatformSchema, PlaylistSchema, VideoInfoSchema } from './schemas/video.js';
import { TaskSchema } from './schemas/task.js';

const SHARED_SCHEMAS = [ErrorResponse, PlatformSchema, FormatSchema, VideoInfoSchema, PlaylistSchema, TaskSchema];
import { registerOpenApi } from './plugins/openapi.js';
import { registerMetrics } from './plugins/metrics.js';
import { systemRoutes } from './routes/system.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The app as route modules see it: TypeBox schemas give typed requests and replies. */
export type App = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export type ApiRoutes = (app: App, services: Services) => Promise<void>;

/** Every route the app registered: what OpenAPI and access-policy tests check against. */
export interface RouteEntry {
  method: string;
  url: string;
  hidden: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    routeTable: RouteEntry[];
  }
}

export interface AppOptions {
  /** Route modules of the domains (extract, delivery, accounts...). */
  routes?: ApiRoutes[];
}

export async function buildApp(services: Services, opts: AppOptions = {}): Promise<App> {
  const { config } = services;
  const app = Fastify({
    loggerInstance: services.log as FastifyBaseLogger,
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy.length ? config.trustProxy : false,
    routerOptions: { maxParamLength: 2048 },
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    schemaController: { compilersFactory: { buildValidator: validatorFactory } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const routeTable: RouteEntry[] = [];
  app.decorate('routeTable', routeTable);
  app.addHook('onRoute', (route) => {
    const hidden = Boolean((route.schema as { hide?: boolean } | undefined)?.hide) || route.url.startsWith('/docs');
    for (const method of [route.method].flat()) routeTable.push({ method, url: route.url, hidden });
  });

  // The API speaks JSON only; a text/plain body is a 415, not a string to validate.
  app.removeContentTypeParser(['text/plain']);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  // Shared schemas ($ref targets) exist for every role; OpenAPI turns them into components.
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  registerErrorHandling(app);
  registerMetrics(app, services.metrics);
  const publicApi = config.role !== 'worker';
  if (publicApi) await registerOpenApi(app, services.version);
  await app.register(systemRoutes(services));
  if (publicApi) for (const routes of opts.routes ?? []) await routes(app, services);
  await app.ready();
  return app;
}
