/**
 * The contract between the extraction service and each engine. An engine
 * recognises its URLs synchronously (match), may resolve short links over
 * the network (resolve), and turns a recognised target into VideoInfo.
 */
import type { Logger } from 'pino';
import type { HttpClient } from '../infra/http-client/http-client.js';
import type { Cookie } from './cookies/netscape.js';
import type { Platform, Playlist, VideoInfo } from './model.js';

export interface ExtractContext {
  /** Already carries the target platform's admin cookies, each request only those matching its URL. */
  http: HttpClient;
  log: Logger;
  signal?: AbortSignal;
  /** The target platform's admin cookies, for engines that hand them to another program (yt-dlp). */
  cookies?: readonly Cookie[];
}

export interface Target {
  platform: Platform;
  kind: 'video' | 'playlist';
  /** platform id (YouTube video id, BV id, Twitch VOD id or clip slug, TikTok item id) */
  id: string;
  /** canonical URL: the cache key and the `videos.url` column */
  url: string;
  /** engine-specific hints (BiliBili page number, Twitch 'vod' | 'clip', TikTok 'photo') */
  hints?: Record<string, string>;
}

export interface Extractor {
  readonly platform: Platform;
  /** Pure URL recognition; null when the URL is not this engine's. Throws invalid_url for a malformed id. */
  match(url: URL): Target | null;
  /** Hosts whose URLs must be resolved over the network first (short links). */
  readonly shortLinkHosts?: readonly string[];
  /** Follows a short link and returns the target it points to. */
  resolveShortLink?(url: URL, ctx: ExtractContext): Promise<Target>;
  extract(target: Target, ctx: ExtractContext): Promise<VideoInfo>;
  extractPlaylist?(target: Target, ctx: ExtractContext, page?: string): Promise<Playlist>;
}
