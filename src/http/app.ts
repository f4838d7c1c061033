/**
 * Builds the Fastify app for a role. `api`/`all` get the public API; a
 * `worker` serves only health, readiness and metrics.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from 'fastify';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { errorBody } from '../errors/app-error.js';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Services } from '../app/services.js';
import { registerErrorHandling } from './plugins/errors.js';
import { validatorFactory } from './plugins/validators.js';
import { ErrorResponse } from './schemas/common.js';
import { FormatSchema, PlatformSchema, PlaylistSchema, VideoInfoSchema } from './schemas/video.js';
import { TaskSchema } from './schemas/task.js';
import { ACCOUNT_SCHEMAS } from './schemas/account.js';
import { registerAuth } from './plugins/auth.js';
import { registerRateLimit } from './plugins/rate-limit.js';
import { registerSecurity } from './plugins/security.js';
import { registerWeb } from './plugins/web.js';
import { registerTextGuard } from './plugins/text-guard.js';

const SHARED_SCHEMAS = [
  ErrorResponse,
  PlatformSchema,
  FormatSchema,
  VideoInfoSchema,
  PlaylistSchema,
  TaskSchema,
  ...ACCOUNT_SCHEMAS,
];
import { registerOpenApi } from './plugins/openapi.js';
import { registerMetrics } from './plugins/metrics.js';
import { systemRoutes } from './routes/system.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Malformed HTTP that never becomes a request (oversized headers, garbage): our error body, then close. */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const [status, code, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', 'Request headers too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'Request timeout']
        : [400, 'bad_request', 'Malformed HTTP request'];
  const body = JSON.stringify(errorBody(code, message));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

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
    // Avvio's 10 s default fails start-up on a busy or small machine (PGlite compiling beside it); a stuck plugin still fails.
    pluginTimeout: 120_000,
    clientErrorHandler: answerClientError,
    // A path that does not decode (e.g. %c0%af) is the client's mistake: our 400 body, not Fastify's.
    frameworkErrors: (err, _req, res) => {
      const badUrl = err.code === 'FST_ERR_BAD_URL';
      const reply = res as unknown as { status(n: number): { send(b: unknown): void } };
      reply
        .status(badUrl ? 400 : 500)
        .send(
          badUrl
            ? errorBody('bad_request', 'The URL path is not valid percent-encoding')
            : errorBody('internal_error', 'Internal error'),
        );
    },
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
  await registerSecurity(app, services);
  registerAuth(app, services);
  registerTextGuard(app);
  await registerRateLimit(app, services);
  const publicApi = config.role !== 'worker';
  if (publicApi) await registerOpenApi(app, services.version);
  await app.register(systemRoutes(services));
  if (publicApi) for (const routes of opts.routes ?? []) await routes(app, services);
  if (publicApi) await registerWeb(app, services);
  await app.ready();
  return app;
}
