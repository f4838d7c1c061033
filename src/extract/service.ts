/**
 * Extraction as the rest of the product sees it: URL in, VideoInfo out.
 * Adds what no single engine should know about: the cache
 * (video_info:{sha256(canonical url)}), single-flight within and across
 * processes, the outbound budget, the yt-dlp fallback, metrics, and the
 * upsert into `videos`.
 */
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { AppError, isAppError } from '../errors/app-error.js';
import { getJson, setJson, type Cache } from '../infra/cache/index.js';
import type { HttpClient } from '../infra/http-client/http-client.js';
import type { DB } from '../infra/db/schema.js';
import type { Metrics } from '../metrics/metrics.js';
import { takeBudget } from './budget.js';
import type { ExtractContext, Extractor, Target } from './extractor.js';
import { shouldFallBackToYtdlp } from './fallback.js';
import type { Platform, Playlist, VideoInfo } from './model.js';
import { Registry, urlForId } from './registry.js';
import { SingleFlight } from './single-flight.js';
import { upsertVideo } from './store.js';
import type { CookieStore } from './cookies/store.js';
import type { Cookie } from './cookies/netscape.js';
import { cookieHeaderFor } from './cookies/match.js';

/** Live streams change by the minute; their info is never kept long. */
const LIVE_TTL_SECONDS = 60;
const LOCK_POLL_MS = 100;

export interface ExtractionDeps {
  config: Config;
  cache: Cache;
  http: HttpClient;
  log: Logger;
  metrics?: Metrics;
  /** Absent in one-shot CLI use: nothing is stored. */
  db?: Kysely<DB>;
  registry?: Registry;
  /** Admin-uploaded platform cookies; absent in one-shot CLI use. */
  cookies?: CookieStore;
}

export interface InfoResult {
  info: VideoInfo;
  cached: boolean;
}

export function cacheKey(kind: 'video_info' | 'playlist_info', canonicalUrl: string, page?: string): string {
  const hash = createHash('sha256')
    .update(page ? `${canonicalUrl}#page=${page}` : canonicalUrl)
    .digest('hex');
  return `${kind}:${hash}`;
}

function isLoopbackHost(url: string): boolean {
  const host = new URL(url).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\./.test(host);
}

export class ExtractionService {
  readonly registry: Registry;
  private readonly flights = new SingleFlight<InfoResult>();
  private readonly playlistFlights = new SingleFlight<Playlist>();
  /** One cookie-carrying client per loaded cookie set (youtubei.js keeps a session per client). */
  private readonly cookieClients = new WeakMap<readonly Cookie[], HttpClient>();

  constructor(private readonly deps: ExtractionDeps) {
    this.registry =
      deps.registry ??
      new Registry({
        ytdlpPath: deps.config.ytdlpPath,
        ytdlpTimeoutMs: deps.config.ytdlpTimeoutMs,
        allowPrivateAddresses: deps.config.allowPrivateAddresses,
      });
  }

  private context(signal?: AbortSignal): ExtractContext {
    return { http: this.deps.http, log: this.deps.log, ...(signal ? { signal } : {}) };
  }

  /** The admin cookies stored for a platform (undefined when there are none). */
  async cookiesFor(platform: Platform): Promise<readonly Cookie[] | undefined> {
    return this.deps.cookies?.load(platform);
  }

  /**
   * The context for extracting a platform's target: its requests carry the
   * platform's cookies that match each URL, and yt-dlp gets them as a file.
   * Short-link resolution runs before the platform is known, without cookies.
   */
  private async contextFor(platform: Platform, signal?: AbortSignal): Promise<ExtractContext> {
    const ctx = this.context(signal);
    const cookies = await this.cookiesFor(platform);
    if (!cookies?.length) return ctx;
    let http = this.cookieClients.get(cookies);
    if (!http) {
      http = this.deps.http.withCookies((url) => cookieHeaderFor(cookies, url));
      this.cookieClients.set(cookies, http);
    }
    return { ...ctx, http, cookies };
  }

  private ttlFor(info: { platform: Platform; is_live?: boolean }): number {
    if (info.is_live) return Math.min(LIVE_TTL_SECONDS, this.deps.config.videoInfoTtl);
    return this.deps.config.videoInfoTtlByPlatform[info.platform] ?? this.deps.config.videoInfoTtl;
  }

  /** A TTL of 0 means "do not cache": the cache reads a missing TTL as "keep forever". */
  private async store(key: string, value: unknown, ttlSeconds: number): Promise<void> {
    if (ttlSeconds > 0) await setJson(this.deps.cache, key, value, ttlSeconds);
  }

  /** Resolves a user URL to its target without extracting (used by download and stream routes). */
  async resolve(rawUrl: string): Promise<{ target: Target; extractor: Extractor }> {
    return this.registry.resolve(rawUrl, this.context());
  }

  async info(rawUrl: string, opts: { refresh?: boolean; signal?: AbortSignal } = {}): Promise<InfoResult> {
    const { target, extractor } = await this.registry.resolve(rawUrl, this.context(opts.signal));
    if (target.kind === 'playlist') {
      throw new AppError('unsupported_url', 'This URL is a playlist: use /api/v2/playlists/info', { url: target.url });
    }
    return this.infoFor(target, extractor, opts);
  }

  async infoById(platform: Platform, id: string, opts: { refresh?: boolean } = {}): Promise<InfoResult> {
    return this.info(urlForId(platform, id), opts);
  }

  private async infoFor(
    target: Target,
    extractor: Extractor,
    opts: { refresh?: boolean; signal?: AbortSignal },
  ): Promise<InfoResult> {
    const key = cacheKey('video_info', target.url);
    const metrics = this.deps.metrics?.extractions;
    if (!opts.refresh) {
      const hit = await getJson<VideoInfo>(this.deps.cache, key);
      if (hit) {
        metrics?.inc({ platform: target.platform, engine: 'cache', outcome: 'hit' });
        return { info: hit, cached: true };
      }
    }
    return this.flights.run(key, () => this.extractShared(key, target, extractor, opts.signal, opts.refresh === true));
  }

  /**
   * Across processes: one holds a short lock while extracting; the others
   * wait for its result in the cache, and extract themselves only if the
   * holder fails or the lock expires.
   */
  private async extractShared(
    key: string,
    target: Target,
    extractor: Extractor,
    signal?: AbortSignal,
    refresh = false,
  ): Promise<InfoResult> {
    const lockKey = `extract_lock:${key.slice('video_info:'.length)}`;
    const lockTtl = Math.ceil(this.deps.config.ytdlpTimeoutMs / 1000) + 5;
    const deadline = Date.now() + lockTtl * 1000;
    while (!(await this.deps.cache.setIfAbsent(lockKey, String(process.pid), lockTtl))) {
      await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
      const done = await getJson<VideoInfo>(this.deps.cache, key);
      if (done) return { info: done, cached: true };
      if (Date.now() > deadline) break;
    }
    try {
      // The holder before us may have stored its result between our cache miss and our lock.
      if (!refresh) {
        const done = await getJson<VideoInfo>(this.deps.cache, key);
        if (done) return { info: done, cached: true };
      }
      const info = await this.extractFresh(target, extractor, signal);
      await this.store(key, info, this.ttlFor(info));
      return { info, cached: false };
    } finally {
      await this.deps.cache.del(lockKey);
    }
  }

  private async extractFresh(target: Target, extractor: Extractor, signal?: AbortSignal): Promise<VideoInfo> {
    const { config, cache, log } = this.deps;
    const metrics = this.deps.metrics?.extractions;
    this.assertReplayable(target, extractor);
    await takeBudget(cache, target.platform, config.platformBudget[target.platform]);
    const ctx = await this.contextFor(target.platform, signal);
    const engine = extractor === this.registry.generic ? 'ytdlp' : 'native';
    let info: VideoInfo;
    try {
      info = await extractor.extract(target, ctx);
      metrics?.inc({ platform: target.platform, engine, outcome: 'ok' });
    } catch (err) {
      metrics?.inc({ platform: target.platform, engine, outcome: isAppError(err) ? err.code : 'exception' });
      if (engine === 'ytdlp' || !this.fallbackAllowed(target) || !shouldFallBackToYtdlp(err))
        throw asAppError(err, log);
      log.warn({ err, url: target.url }, 'native extractor failed; falling back to yt-dlp');
      info = await this.registry.generic.extract(this.registry.generic.match(new URL(target.url))!, ctx);
      info = { ...info, platform: target.platform, id: target.id };
      metrics?.inc({ platform: target.platform, engine: 'ytdlp', outcome: 'ok' });
    }
    if (this.deps.db) {
      await upsertVideo(this.deps.db, target.url, info).catch((err: unknown) => {
        log.warn({ err, url: target.url }, 'could not store video row');
      });
    }
    return info;
  }

  /**
   * yt-dlp cannot be pointed at the replay server, so while
   * YTBH_UPSTREAM_REWRITE is on it may only reach local hosts.
   */
  private assertReplayable(target: Target, extractor: Extractor): void {
    if (extractor === this.registry.generic && this.deps.config.upstreamRewrite && !isLoopbackHost(target.url)) {
      throw new AppError('upstream_error', 'yt-dlp cannot reach non-local hosts while YTBH_UPSTREAM_REWRITE is set', {
        url: target.url,
      });
    }
  }

  private fallbackAllowed(target: Target): boolean {
    return this.deps.config.ytdlpFallback && !this.deps.config.upstreamRewrite && target.kind === 'video';
  }

  async playlist(rawUrl: string, page?: string): Promise<Playlist> {
    const { target, extractor } = await this.registry.resolve(rawUrl, this.context());
    const engine = extractor.extractPlaylist ? extractor : this.registry.generic;
    const key = cacheKey('playlist_info', target.url, page);
    const hit = await getJson<Playlist>(this.deps.cache, key);
    if (hit) return hit;
    return this.playlistFlights.run(key, async () => {
      const t = engine === extractor ? target : this.registry.generic.match(new URL(target.url))!;
      this.assertReplayable(t, engine);
      await takeBudget(this.deps.cache, target.platform, this.deps.config.platformBudget[target.platform]);
      const ctx = await this.contextFor(target.platform);
      const playlist = await engine.extractPlaylist!(t, ctx, page).catch((err: unknown) => {
        throw asAppError(err, this.deps.log);
      });
      await this.store(key, playlist, this.ttlFor({ platform: target.platform }));
      return playlist;
    });
  }

  async playlistById(platform: Platform, id: string, page?: string): Promise<Playlist> {
    return this.playlist(urlForId(platform, id, 'playlist'), page);
  }
}

/** Unexpected exceptions from an engine become upstream_error (logged with their stack, never returned). */
function asAppError(err: unknown, log: Logger): AppError {
  if (isAppError(err)) return err;
  log.error({ err }, 'extractor failed unexpectedly');
  return new AppError('upstream_error', 'Could not read the platform’s answer');
}
