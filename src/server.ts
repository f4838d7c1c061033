/**
 * Starts one process for a role: services (database, cache, ...), the HTTP
 * app, and — for worker/all — the background workers. Shutdown stops
 * accepting, lets in-flight requests finish, then closes the backends.
 */
import type { AddressInfo } from 'node:net';
import type { Config } from './config/config.js';
import { createServices, type ServiceOptions, type Services } from './app/services.js';
import { buildApp, type App } from './http/app.js';
import { apiRoutes } from './http/routes/index.js';
import { DownloadWorker } from './delivery/worker.js';

const GRACE_MS = 10_000;

export interface RunningServer {
  app: App;
  services: Services;
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function startServer(config: Config, opts: ServiceOptions = {}): Promise<RunningServer> {
  const services = await createServices(config, opts);
  let app: App;
  try {
    app = await buildApp(services, { routes: apiRoutes });
    if (config.role !== 'api') await startWorker(services);
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    await services.close();
    throw err;
  }
  const { port } = app.server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  services.log.info(
    { database: services.database.kind, cache: services.cache.kind, port },
    `ytbh ${services.version} listening on http://${host}:${port}`,
  );
  let stopping: Promise<void> | undefined;
  return {
    app,
    services,
    port,
    url: `http://${host}:${port}`,
    stop: () =>
      (stopping ??= (async () => {
        // In-flight requests get a grace period; a client that never reads its response does not hold shutdown.
        const force = setTimeout(() => app.server.closeAllConnections(), GRACE_MS);
        try {
          await app.close();
        } finally {
          clearTimeout(force);
        }
        await services.close();
      })()),
  };
}

/** SIGTERM/SIGINT → graceful stop; a second signal or a 25 s overrun exits at once. */
export function stopOnSignals(server: RunningServer): void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) process.exit(1);
    signalled = true;
    server.services.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 25_000);
    force.unref();
    server.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        server.services.log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** The download worker of this process (roles worker and all). */
export async function startWorker(services: Services): Promise<DownloadWorker> {
  const { config } = services;
  const worker = new DownloadWorker({
    db: services.database.db,
    http: services.http,
    extraction: services.extraction,
    storage: services.storage,
    publisher: services.publisher,
    log: services.log,
    dataDir: config.dataDir,
    ffmpegPath: config.ffmpegPath,
    queue: services.queue,
    config,
    metrics: services.metrics,
  });
  await worker.start();
  return worker;
}
