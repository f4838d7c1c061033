/**
 * Formats our own downloader cannot fetch (DASH manifests, and any protocol
 * other than plain https and HLS) are downloaded by yt-dlp itself:
 *
 *   yt-dlp --no-config -f FORMAT_ID -o WORKDIR/partN.%(ext)s --newline
 *          --progress-template "download:%(progress)j" -- PAGE_URL
 *
 * yt-dlp re-extracts the page and fetches the one format; its JSON progress
 * lines feed the same DownloadProgress callback as our downloaders, and an
 * abort kills the child process (its `.part` file stays for a resume).
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../errors/app-error.js';
import type { Format, Platform } from '../../extract/model.js';
import { assertPublicUrl, parseUserUrl } from '../../infra/http-client/ssrf-guard.js';
import { egressProxyUrl } from '../../infra/http-client/egress-proxy.js';
import { resolveYtdlpPath, runProcess, ytdlpProxy } from '../../extract/ytdlp/run.js';
import { ytdlpError } from '../../extract/ytdlp/errors.js';
import type { DownloadProgress } from './common.js';
import { cookieArgs, withCookieFile } from '../../extract/cookies/cookie-file.js';
import type { Cookie } from '../../extract/cookies/netscape.js';

/** Protocols our downloader fetches itself (downloadFormat); everything else needs yt-dlp. */
const OWN_PROTOCOLS: ReadonlySet<string> = new Set(['https', 'hls']);

/** True for a format only yt-dlp can fetch (pass it after the pipeline's `fetchable` rewrite). */
export function needsYtdlp(format: Pick<Format, 'protocol'>): boolean {
  return !OWN_PROTOCOLS.has(format.protocol);
}

/** A download is not a slow extraction: hours, not the extraction deadline. */
export const YTDLP_DOWNLOAD_TIMEOUT_MS = 6 * 60 * 60 * 1000;
const SOCKET_TIMEOUT_S = 30;

export interface YtdlpDownloadOptions {
  /** The page URL yt-dlp extracts again (not the media URL). */
  pageUrl: string;
  formatId: string;
  /** Work directory; the file becomes `${dir}/${basename}.${ext}`. */
  dir: string;
  /** e.g. `part0` */
  basename: string;
  ytdlpPath?: string;
  /** Passed as --ffmpeg-location when it is a path (yt-dlp may need ffmpeg for some protocols). */
  ffmpegPath?: string;
  /** Check the page and manifest URLs against private addresses first (user-supplied generic URLs). */
  guard?: boolean;
  allowPrivateAddresses?: boolean;
  /** Extra URLs to check with the guard (the format's manifest URL). */
  guardUrls?: string[];
  /** While an upstream rewrite is on, yt-dlp (which cannot be rewritten) may only reach loopback hosts. */
  loopbackOnly?: boolean;
  signal?: AbortSignal;
  timeoutMs?: number;
  onProgress?: (p: DownloadProgress) => void;
  /** Test hook: the child's pid. */
  onSpawn?: (pid: number) => void;
  /** The platform's admin cookies, read when yt-dlp starts; passed as a temporary `--cookies` file. */
  loadCookies?: () => Promise<readonly Cookie[] | undefined>;
  /**
   * The proxy yt-dlp connects through. Default: the process's guarded egress proxy unless private
   * addresses are allowed or the rewrite is on (then none). Tests name their own.
   */
  egressProxy?: string;
}

/** One `download:%(progress)j` line → DownloadProgress; null for any other line. */
export function parseYtdlpProgress(line: string): DownloadProgress | null {
  const text = line.trim();
  if (!text.startsWith('{')) return null;
  let j: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
    j = parsed as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof j.status !== 'string') return null;
  const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null);
  const bytesDone = num(j.downloaded_bytes) ?? 0;
  const total = num(j.total_bytes) ?? num(j.total_bytes_estimate);
  const speed = num(j.speed) ?? 0;
  const eta = j.status === 'finished' ? 0 : num(j.eta);
  return {
    bytesDone: Math.round(bytesDone),
    bytesTotal: total === null ? null : Math.round(Math.max(total, bytesDone)),
    speedBps: Math.round(speed),
    etaSeconds: eta,
  };
}

function isLoopback(url: URL): boolean {
  const host = url.hostname;
  return host === 'localhost' || host === '[::1]' || /^127\./.test(host);
}

/** Downloads one format with yt-dlp; resolves with the file it wrote. */
export async function downloadWithYtdlp(opts: YtdlpDownloadOptions): Promise<string> {
  const page = parseUserUrl(opts.pageUrl);
  const checked = [page, ...(opts.guardUrls ?? []).map((u) => new URL(u))];
  if (opts.loopbackOnly && !checked.every(isLoopback)) {
    throw new AppError('upstream_error', 'yt-dlp cannot reach non-local hosts while YTBH_UPSTREAM_REWRITE is set', {
      url: page.href,
    });
  }
  if (opts.guard) for (const u of checked) await assertPublicUrl(u, opts.allowPrivateAddresses === true);

  const args = [
    '--no-config',
    '--no-warnings',
    '--no-playlist',
    '--socket-timeout',
    String(SOCKET_TIMEOUT_S),
    '--abort-on-unavailable-fragment',
    '--fixup',
    'never', // ffmpeg remuxes the part afterwards anyway
    '--no-mtime',
    '-f',
    opts.formatId,
    '-o',
    path.join(opts.dir, `${opts.basename}.%(ext)s`),
    '--newline',
    '--progress-template',
    'download:%(progress)j',
  ];
  if (opts.ffmpegPath && opts.ffmpegPath.includes(path.sep)) args.push('--ffmpeg-location', opts.ffmpegPath);

  // Every connection yt-dlp makes (redirects, manifests, fragments) meets the SSRF guard at connect time.
  const proxy = ytdlpProxy(
    await egressProxyUrl({
      explicit: opts.egressProxy,
      allowPrivate: opts.allowPrivateAddresses === true,
      rewrite: opts.loopbackOnly === true,
    }),
  );
  let last: DownloadProgress | null = null;
  const cookies = await opts.loadCookies?.();
  const res = await withCookieFile(cookies, (cookieFile) =>
    runProcess(resolveYtdlpPath(opts.ytdlpPath), [...args, ...proxy.args, ...cookieArgs(cookieFile), '--', page.href], {
      ...(proxy.env ? { env: proxy.env } : {}),
      timeoutMs: opts.timeoutMs ?? YTDLP_DOWNLOAD_TIMEOUT_MS,
      maxStdoutBytes: 1024 * 1024,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.onSpawn ? { onSpawn: opts.onSpawn } : {}),
      onStdoutLine: (line) => {
        const p = parseYtdlpProgress(line);
        if (!p) return;
        last = p;
        try {
          opts.onProgress?.(p);
        } catch {
          // A failing observer must not fail the transfer.
        }
      },
    }),
  );
  if (res.code !== 0) throw ytdlpError(res.stderr);

  const prefix = `${opts.basename}.`;
  const files = (await readdir(opts.dir)).filter(
    (f) => f.startsWith(prefix) && !/\.(part|ytdl|temp)$/.test(f) && !/\.part-Frag\d+/.test(f),
  );
  if (files.length !== 1) {
    throw new AppError('upstream_error', 'yt-dlp finished without leaving exactly one file', { files });
  }
  const file = path.join(opts.dir, files[0]!);
  const done = last as DownloadProgress | null;
  if (done) opts.onProgress?.({ ...done, bytesTotal: done.bytesTotal ?? done.bytesDone, etaSeconds: 0 });
  return file;
}

/**
 * The yt-dlp settings for a pipeline run. PipelineDeps carries no config of
 * its own; the worker's deps (WorkerDeps) do, so they are read structurally.
 */
export function ytdlpSettingsOf(
  deps: {
    ffmpegPath?: string;
    extraction?: { cookiesFor(platform: Platform): Promise<readonly Cookie[] | undefined> };
  },
  task: { platform: string },
): Pick<
  YtdlpDownloadOptions,
  'ytdlpPath' | 'ffmpegPath' | 'guard' | 'allowPrivateAddresses' | 'loopbackOnly' | 'loadCookies'
> {
  const config = (deps as { config?: Partial<Record<string, unknown>> }).config;
  const ytdlpPath = typeof config?.ytdlpPath === 'string' ? config.ytdlpPath : undefined;
  return {
    ...(ytdlpPath ? { ytdlpPath } : {}),
    ...(deps.ffmpegPath ? { ffmpegPath: deps.ffmpegPath } : {}),
    // Generic pages are user-supplied: the page and manifest get the SSRF check first.
    guard: task.platform === 'generic',
    allowPrivateAddresses: config?.allowPrivateAddresses === true,
    loopbackOnly: typeof config?.upstreamRewrite === 'string' && config.upstreamRewrite !== '',
    // yt-dlp extracts the page again, so it needs the same cookies extraction used.
    ...(deps.extraction ? { loadCookies: () => deps.extraction!.cookiesFor(task.platform as Platform) } : {}),
  };
}
