/**
 * The catch-all engine: any http(s) URL our own engines do not claim goes to
 * yt-dlp. yt-dlp runs as a child process (never blocking the event loop)
 * after the SSRF check, and ffprobe fills in what its generic extractor
 * cannot know about direct files and bare HLS playlists.
 */
import { createHash } from 'node:crypto';
import { AppError, isAppError } from '../../errors/app-error.js';
import { egressProxyUrl } from '../../infra/http-client/egress-proxy.js';
import { assertPublicUrl, parseUserUrl } from '../../infra/http-client/ssrf-guard.js';
import type { ExtractContext, Extractor, Target } from '../extractor.js';
import type { Format, Playlist, VideoInfo } from '../model.js';
import { isPlaylist, mapPlaylist, mapVideoInfo } from './map.js';
import { applyProbe, ffprobe, needsProbe, type ProbeResult } from './probe.js';
import { runYtdlpJson } from './run.js';

export interface YtdlpExtractorOptions {
  ytdlpPath: string;
  /** deadline for one extraction, yt-dlp and probing together */
  timeoutMs: number;
  allowPrivateAddresses: boolean;
  /** probe formats yt-dlp knows nothing about with ffprobe (default true) */
  probe?: boolean;
  ffprobePath?: string;
  /**
   * The proxy yt-dlp and ffprobe connect through. Default: the process's guarded egress proxy
   * unless private addresses are allowed (then none). Tests name their own.
   */
  egressProxy?: string;
  /** Test hook: pid of every child process started. */
  onSpawn?: (pid: number) => void;
}

const MAX_PROBES = 3;
const MIN_PROBE_MS = 1000;
export const PLAYLIST_PAGE_SIZE = 100;

/** Generic targets have no platform id before extraction; a hash of the URL is stable and URL-safe. */
export function targetId(url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 16);
}

/** Page "1", "2"... → yt-dlp's inclusive `--playlist-items START:END`. */
function pageNumber(page: string | undefined): number {
  if (page === undefined || page === '') return 1;
  if (!/^[1-9]\d{0,5}$/.test(page)) throw new AppError('validation_failed', 'page must be a positive integer');
  return Number(page);
}

export function createYtdlpExtractor(opts: YtdlpExtractorOptions): Extractor {
  async function guarded(raw: string): Promise<URL> {
    const url = parseUserUrl(raw);
    await assertPublicUrl(url, opts.allowPrivateAddresses);
    return url;
  }

  /** The guard at connect time for every connection the tools make, redirects included. */
  async function proxy(): Promise<{ proxy?: string }> {
    const url = await egressProxyUrl({ explicit: opts.egressProxy, allowPrivate: opts.allowPrivateAddresses });
    return url ? { proxy: url } : {};
  }

  async function runJson(url: URL, args: string[], ctx: ExtractContext): Promise<Record<string, unknown>> {
    return runYtdlpJson(url.href, args, {
      ...(await proxy()),
      ytdlpPath: opts.ytdlpPath,
      timeoutMs: opts.timeoutMs,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      ...(ctx.cookies ? { cookies: ctx.cookies } : {}),
      ...(opts.onSpawn ? { onSpawn: opts.onSpawn } : {}),
    });
  }

  async function probeOne(f: Format, timeoutMs: number, ctx: ExtractContext): Promise<ProbeResult> {
    // The media URL can point somewhere else than the page did; it gets the same check.
    await assertPublicUrl(new URL(f.url), opts.allowPrivateAddresses);
    return ffprobe(f.url, {
      ...(await proxy()),
      timeoutMs,
      ...(opts.ffprobePath ? { ffprobePath: opts.ffprobePath } : {}),
      ...(f.http_headers ? { headers: f.http_headers } : {}),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      ...(opts.onSpawn ? { onSpawn: opts.onSpawn } : {}),
    });
  }

  /** Best effort: a failed probe leaves the format as yt-dlp described it. */
  async function fillGaps(info: VideoInfo, deadline: number, ctx: ExtractContext): Promise<VideoInfo> {
    const remaining = deadline - Date.now();
    if (info.is_live || remaining < MIN_PROBE_MS) return info;
    const candidates = info.formats.filter((f) => needsProbe(info, f)).slice(0, MAX_PROBES);
    if (!candidates.length) return info;
    const results = await Promise.allSettled(candidates.map((f) => probeOne(f, remaining, ctx)));
    const notMedia = results.filter(
      (r) => r.status === 'rejected' && isAppError(r.reason) && r.reason.code === 'unsupported_url',
    );
    // yt-dlp calls any non-HTML response a "direct link"; if none of it is media, the URL is unsupported.
    if (notMedia.length === info.formats.length) throw (notMedia[0] as PromiseRejectedResult).reason;
    const probes = new Map<Format, ProbeResult>();
    results.forEach((r, i) => r.status === 'fulfilled' && probes.set(candidates[i]!, r.value));
    const formats = info.formats.map((f) => {
      const p = probes.get(f);
      return p ? applyProbe(f, p) : f;
    });
    const duration = info.duration ?? [...probes.values()].find((p) => p.duration !== null)?.duration ?? null;
    return { ...info, duration, formats };
  }

  return {
    platform: 'generic',

    match(url: URL): Target | null {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
      return { platform: 'generic', kind: 'video', id: targetId(url.href), url: url.href };
    },

    async extract(target, ctx) {
      const url = await guarded(target.url);
      const deadline = Date.now() + opts.timeoutMs;
      let json = await runJson(url, ['--no-playlist'], ctx);
      // A page embedding several videos is a playlist even with --no-playlist; its first video stands in.
      if (isPlaylist(json)) {
        const first = Array.isArray(json.entries)
          ? (json.entries[0] as Record<string, unknown> | undefined)
          : undefined;
        if (!first || typeof first !== 'object')
          throw new AppError('unsupported_url', 'The URL is a playlist with no videos');
        json = first;
      }
      const info = mapVideoInfo(json, url.href);
      return opts.probe === false ? info : fillGaps(info, deadline, ctx);
    },

    async extractPlaylist(target, ctx, page): Promise<Playlist> {
      const n = pageNumber(page);
      const url = await guarded(target.url);
      const first = (n - 1) * PLAYLIST_PAGE_SIZE + 1;
      const last = n * PLAYLIST_PAGE_SIZE;
      const json = await runJson(
        url,
        ['--yes-playlist', '--flat-playlist', '--playlist-items', `${first}:${last}`],
        ctx,
      );
      if (!isPlaylist(json)) {
        // A single video is a one-entry playlist.
        const info = mapVideoInfo(json, url.href);
        const entries = n === 1 ? [{ id: info.id, url: info.url, title: info.title, duration: info.duration }] : [];
        return {
          platform: info.platform,
          id: info.id,
          title: info.title,
          uploader: info.uploader,
          entries,
          next_page: null,
        };
      }
      const playlist = mapPlaylist(json);
      const count = typeof json.playlist_count === 'number' ? json.playlist_count : null;
      const more = count !== null ? last < count : playlist.entries.length >= PLAYLIST_PAGE_SIZE;
      return { ...playlist, next_page: more ? String(n + 1) : null };
    },
  };
}
