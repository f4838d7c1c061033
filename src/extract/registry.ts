/**
 * Which engine handles a URL: the native extractors claim their platforms'
 * URLs (following short links first); every other http(s) URL goes to yt-dlp.
 */
import { AppError } from '../errors/app-error.js';
import { assertPublicUrl, parseUserUrl } from '../infra/http-client/ssrf-guard.js';
import { bilibiliExtractor } from './bilibili/extractor.js';
import { tiktokExtractor } from './tiktok/extractor.js';
import { twitchExtractor } from './twitch/extractor.js';
import { youtubeExtractor } from './youtube/extractor.js';
import { createYtdlpExtractor } from './ytdlp/extractor.js';
import type { ExtractContext, Extractor, Target } from './extractor.js';
import type { Platform } from './model.js';

export const NATIVE_EXTRACTORS: readonly Extractor[] = [
  youtubeExtractor,
  bilibiliExtractor,
  twitchExtractor,
  tiktokExtractor,
];

export interface RegistryOptions {
  ytdlpPath: string;
  ytdlpTimeoutMs: number;
  allowPrivateAddresses: boolean;
}

export class Registry {
  readonly generic: Extractor;
  private readonly byPlatform = new Map<Platform, Extractor>();

  constructor(private readonly opts: RegistryOptions) {
    this.generic = createYtdlpExtractor({
      ytdlpPath: opts.ytdlpPath,
      timeoutMs: opts.ytdlpTimeoutMs,
      allowPrivateAddresses: opts.allowPrivateAddresses,
    });
    for (const e of NATIVE_EXTRACTORS) this.byPlatform.set(e.platform, e);
    this.byPlatform.set('generic', this.generic);
  }

  engine(platform: Platform): Extractor {
    return this.byPlatform.get(platform) ?? this.generic;
  }

  /** Recognises a user URL without network access; null when a short link must be followed first. */
  match(url: URL): { target: Target; extractor: Extractor } | null {
    const host = url.hostname.toLowerCase();
    for (const e of NATIVE_EXTRACTORS) {
      if (e.shortLinkHosts?.includes(host)) return null;
      const target = e.match(url);
      if (target) return { target, extractor: e };
    }
    return { target: this.generic.match(url)!, extractor: this.generic };
  }

  /** Any user URL → the engine and canonical target (short links are followed through the HTTP client). */
  async resolve(raw: string, ctx: ExtractContext): Promise<{ target: Target; extractor: Extractor }> {
    const url = parseUserUrl(raw);
    const matched = this.match(url);
    // A generic URL is fetched as given: refuse private addresses before anything (a task, a cache entry) exists.
    if (matched?.target.platform === 'generic') await assertPublicUrl(url, this.opts.allowPrivateAddresses);
    if (matched) return matched;
    const host = url.hostname.toLowerCase();
    const owner = NATIVE_EXTRACTORS.find((e) => e.shortLinkHosts?.includes(host))!;
    const target = await owner.resolveShortLink!(url, ctx);
    return { target, extractor: owner };
  }
}

/** Canonical page URL for a platform id, for the /videos/{platform}/{id} routes. */
export function urlForId(platform: Platform, id: string, kind: 'video' | 'playlist' = 'video'): string {
  const e = encodeURIComponent(id);
  switch (platform) {
    case 'youtube':
      return kind === 'playlist'
        ? `https://www.youtube.com/playlist?list=${e}`
        : `https://www.youtube.com/watch?v=${e}`;
    case 'bilibili':
      return `https://www.bilibili.com/video/${e}`;
    case 'twitch':
      return /^v?\d+$/.test(id)
        ? `https://www.twitch.tv/videos/${e.replace(/^v/, '')}`
        : `https://clips.twitch.tv/${e}`;
    case 'tiktok':
      return `https://www.tiktok.com/@i/video/${e}`;
    case 'generic':
      throw new AppError('unsupported_url', 'Generic videos are addressed by URL, not by id');
  }
}
