/**
 * Wires the infrastructure chosen by config into one object that domains and
 * routes receive. Building it is the only place that knows which backend
 * (embedded or distributed) is in use.
 */
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { loadSecrets, type Secrets } from '../config/secrets.js';
import { openDatabase, migrateToLatest, type Database } from '../infra/db/database.js';
import { lockDataDir } from '../infra/db/data-dir-lock.js';
import { openCache, type Cache } from '../infra/cache/index.js';
import { HttpClient } from '../infra/http-client/http-client.js';
import { createToolProbe, type ToolVersions } from '../infra/tools.js';
import { createMetrics, type Metrics } from '../metrics/metrics.js';
import { ExtractionService } from '../extract/service.js';
import { openQueue, type JobQueue } from '../infra/queue/index.js';
import { openStorage, type ObjectStorage } from '../infra/storage/index.js';
import { ProgressPublisher } from '../delivery/progress.js';
import { EventHub } from '../delivery/event-hub.js';
import { storageUsageByUser } from '../accounts/quotas.js';
import { FieldCipher } from '../infra/crypto/field-cipher.js';
import { CookieStore } from '../extract/cookies/store.js';
import { createLogger } from './logger.js';
import { VERSION } from './version.js';

export interface Services {
  readonly version: string;
  readonly config: Config;
  readonly log: Logger;
  readonly secrets: Secrets;
  /** encrypts sensitive columns (first key), decrypts with any known key */
  readonly cipher: FieldCipher;
  /** admin-uploaded platform cookies (encrypted at rest), used by extraction */
  readonly cookies: CookieStore;
  readonly database: Database;
  readonly cache: Cache;
  readonly http: HttpClient;
  readonly metrics: Metrics;
  readonly tools: () => Promise<ToolVersions>;
  readonly extraction: ExtractionService;
  readonly queue: JobQueue;
  readonly storage: ObjectStorage;
  readonly publisher: ProgressPublisher;
  readonly events: EventHub;
  close(): Promise<void>;
}

export interface ServiceOptions {
  log?: Logger;
  /** Run migrations at start (default true). */
  migrate?: boolean;
  /** Namespace for cache keys and channels (tests sharing one Redis). */
  cacheKeyPrefix?: string;
  /** PGlite location override ('memory://' in tests). */
  pgliteDir?: string;
}

export async function createServices(config: Config, opts: ServiceOptions = {}): Promise<Services> {
  const log = opts.log ?? createLogger(config);
  const secrets = loadSecrets(config);
  const closers: (() => Promise<void> | void)[] = [];
  try {
    let pgliteDir = opts.pgliteDir;
    if (!config.databaseUrl && !pgliteDir) {
      pgliteDir = path.join(config.dataDir, 'pgdata');
      mkdirSync(config.dataDir, { recursive: true });
      closers.push(lockDataDir(path.join(config.dataDir, 'pgdata.lock')));
    }
    const database = await openDatabase({
      url: config.databaseUrl,
      ...(pgliteDir ? { pgliteDir } : {}),
      onIdleError: (err) => log.warn({ err }, 'an idle database connection failed; it is replaced on next use'),
    });
    closers.unshift(() => database.close());
    if (opts.migrate !== false) await migrateToLatest(database);

    const cache = openCache(config.redisUrl, opts.cacheKeyPrefix);
    closers.unshift(() => cache.close());

    if (config.upstreamRewrite)
      log.warn(
        { rewrite: config.upstreamRewrite },
        'YTBH_UPSTREAM_REWRITE is on: platform requests go to the replay server',
      );
    const http = new HttpClient({
      upstreamRewrite: config.upstreamRewrite,
      allowPrivateAddresses: config.allowPrivateAddresses,
      timeoutMs: config.upstreamTimeoutMs,
    });
    closers.unshift(() => http.close());

    const metrics = createMetrics();
    // Every role exports storage_usage_bytes, read from the database at scrape time.
    metrics.setStorageUsageSource(() => storageUsageByUser(database.db));
    const storage = openStorage(config, config.dataDir);
    closers.unshift(() => storage.close());
    const queue = openQueue(config.redisUrl, {
      prefix: `${opts.cacheKeyPrefix ?? ''}ytbh`,
      lockDurationMs: config.queueLockMs,
      stalledIntervalMs: config.queueStalledIntervalMs,
      onError: (err, taskId) => log.error({ err, task: taskId }, 'queue error'),
    });
    const events = new EventHub(cache);
    // The queue closes first: running jobs are aborted (and picked up again later) before the backends go.
    closers.unshift(() => events.close());
    closers.unshift(() => queue.close());
    const cipher = new FieldCipher(secrets.encryptionKeys);
    const cookies = new CookieStore({ db: database.db, cipher, cache, log });
    return {
      version: VERSION,
      config,
      log,
      secrets,
      cipher,
      cookies,
      database,
      cache,
      http,
      metrics,
      tools: createToolProbe(config),
      extraction: new ExtractionService({ config, cache, http, log, metrics, db: database.db, cookies }),
      queue,
      storage,
      publisher: new ProgressPublisher(cache),
      events,
      async close() {
        for (const close of closers) await close();
      },
    };
  } catch (err) {
    for (const close of closers) await Promise.resolve(close()).catch(() => {});
    throw err;
  }
}
