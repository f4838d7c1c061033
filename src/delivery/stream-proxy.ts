/**
 * Streaming: which format a player gets, and how its bytes reach the player.
 *
 * Two choices per video and quality:
 *  - direct: one URL a player can open itself (the best muxed or HLS format at
 *    or below the quality); "usable as is" when it needs no header a player
 *    would not send (Referer, Cookie, an app User-Agent...).
 *  - proxy: what our proxy endpoint streams: a single format relayed byte for
 *    byte (Range passed through), or separate video + audio (DASH) and
 *    manifests (HLS, .mpd) remuxed on the fly by ffmpeg into fragmented MP4.
 *
 * Every relayed request goes through the one HttpClient (upstream rewrite, SSRF
 * guard for generic sites). ffmpeg gets only http(s) inputs, rewritten the same
 * way, with the format's headers.
 */
import { spawn } from 'node:child_process';
import { PassThrough, Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { AppError } from '../errors/app-error.js';
import type { Format, Platform, VideoInfo } from '../extract/model.js';
import type { HttpClient } from '../infra/http-client/http-client.js';
import { DEFAULT_USER_AGENT } from '../infra/http-client/http-client.js';
import { egressProxyUrl, ffmpegNetworkProtocols, proxyEnv } from '../infra/http-client/egress-proxy.js';
import { assertPublicUrl, parseUserUrl } from '../infra/http-client/ssrf-guard.js';
import { rewriteUrl } from '../infra/http-client/upstream-rewrite.js';
import { resolveFfmpegPath } from '../media/ffmpeg.js';
import { QUALITIES, resolveOptions, sanitizeFilename, type Quality } from './options.js';
import { selectFormats } from './select-formats.js';

// ---------------------------------------------------------------------------
// Quality

/** best|worst|2160…144, also `720p`, and the original API's highest/lowest. */
export const QUALITY_PATTERN = '^(best|worst|highest|lowest|(2160|1440|1080|720|480|360|240|144)[pP]?)$';

export function normalizeQuality(raw: string | undefined | null): Quality {
  if (raw === undefined || raw === null || raw === '') return 'best';
  const v = raw
    .trim()
    .toLowerCase()
    .replace(/^(\d+)p$/, '$1');
  if (v === 'highest') return 'best';
  if (v === 'lowest') return 'worst';
  if ((QUALITIES as readonly string[]).includes(v)) return v as Quality;
  throw new AppError('validation_failed', `Unknown quality "${raw}"`, { allowed: [...QUALITIES] });
}

// ---------------------------------------------------------------------------
// Choosing formats

export type ProxyMode = 'relay' | 'remux';

export interface StreamPlan {
  /** what the proxy endpoint streams */
  proxy: {
    mode: ProxyMode;
    /** relay: one format; remux: [video, audio] or one manifest (HLS / DASH .mpd) */
    formats: Format[];
    reason: string[];
  };
  /** what the direct endpoint redirects to: one format URL, or null (→ the proxy) */
  direct: {
    format: Format | null;
    /** the format URL plays without our proxy (no remux, no header a player would not send) */
    usable: boolean;
    reason: string[];
  };
}

/** A real manifest (HLS playlist, DASH .mpd): relaying its bytes would not play; ffmpeg reads it. */
export function isManifest(f: Format): boolean {
  return f.protocol === 'hls' || (f.protocol === 'dash' && /\.mpd(\?|$)/i.test(f.url));
}

const OPTIONAL_HEADERS = /^(accept|accept-language|accept-encoding|sec-fetch-[a-z-]+|sec-ch-[a-z-]+)$/i;

/** Headers the media URL needs that a player would not send on its own. */
export function requiredHeaders(f: Format): string[] {
  return Object.entries(f.http_headers ?? {})
    .filter(([k, v]) => {
      if (OPTIONAL_HEADERS.test(k)) return false;
      // A browser User-Agent is what players send anyway; an app's (YouTube's Android client) is not.
      if (k.toLowerCase() === 'user-agent') return !/^Mozilla\//.test(v);
      return true;
    })
    .map(([k]) => k);
}

export function chooseStream(info: VideoInfo, quality: Quality): StreamPlan {
  const options = resolveOptions({ quality, format: 'mp4' });
  const sel = selectFormats(info.formats, options);
  let proxy: StreamPlan['proxy'];
  if (sel.muxed) {
    proxy = { mode: isManifest(sel.muxed) ? 'remux' : 'relay', formats: [sel.muxed], reason: sel.reason };
  } else if (sel.video && sel.audio) {
    proxy = { mode: 'remux', formats: [sel.video, sel.audio], reason: sel.reason };
  } else {
    const only = (sel.video ?? sel.audio)!;
    proxy = { mode: isManifest(only) ? 'remux' : 'relay', formats: [only], reason: sel.reason };
  }

  // A player needs audio and video at one URL: a muxed (or HLS) format, even if a separate pair is better.
  const muxed = info.formats.filter((f) => f.kind === 'muxed');
  let format: Format | null = null;
  let reason: string[];
  if (muxed.length) {
    const m = selectFormats(muxed, options);
    format = m.muxed;
    reason = m.reason;
  } else if (proxy.formats.length === 1) {
    format = proxy.formats[0]!;
    reason = proxy.reason;
  } else {
    reason = [...proxy.reason, 'Only separate video and audio streams exist; the proxy remuxes them.'];
  }
  let usable = false;
  if (format) {
    const needs = requiredHeaders(format);
    const dashManifest = format.protocol === 'dash' && isManifest(format);
    usable = needs.length === 0 && !dashManifest;
    if (needs.length) reason = [...reason, `The URL needs ${needs.join(', ')}; players go through the proxy.`];
    else if (dashManifest)
      reason = [...reason, 'A DASH manifest is not playable everywhere; players go through the proxy.'];
  }
  return { proxy, direct: { format, usable, reason } };
}

// ---------------------------------------------------------------------------
// URLs and names

export interface StreamAddress {
  platform: Platform;
  id: string;
  /** the page URL, for videos without a stable id (generic sites) */
  url?: string;
}

function query(params: Record<string, string | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== false) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function proxyPath(
  addr: StreamAddress,
  quality: string,
  extra: { download?: boolean; filename?: string } = {},
): string {
  const q = { quality, ...(extra.download ? { download: true } : {}), filename: extra.filename };
  if (addr.url) return `/api/v2/stream/proxy${query({ url: addr.url, ...q })}`;
  return `/api/v2/stream/proxy/${addr.platform}/${encodeURIComponent(addr.id)}${query(q)}`;
}

export function directPath(addr: StreamAddress, quality: string): string {
  return `/api/v2/stream/direct/${addr.platform}/${encodeURIComponent(addr.id)}${query({ quality })}`;
}

export function embedPath(addr: StreamAddress, quality: string): string {
  return `/api/v2/stream/embed/${addr.platform}/${encodeURIComponent(addr.id)}${query({ quality })}`;
}

const CONTENT_TYPES: Record<string, string> = {
  mp4: 'video/mp4',
  m4v: 'video/mp4',
  m4s: 'video/mp4',
  webm: 'video/webm',
  mkv: 'video/x-matroska',
  m4a: 'audio/mp4',
  mp3: 'audio/mpeg',
  opus: 'audio/ogg',
  ogg: 'audio/ogg',
  flv: 'video/x-flv',
  ts: 'video/mp2t',
};

export function contentTypeFor(f: Format): string {
  const ext = f.ext.toLowerCase();
  if (f.kind === 'audio' && (ext === 'mp4' || ext === 'm4a')) return 'audio/mp4';
  return CONTENT_TYPES[ext] ?? 'application/octet-stream';
}

/** The download name: the client's (placeholders allowed, extension replaced) or `{title} [{id}]`, plus `.ext`. */
export function streamFilename(info: VideoInfo, requested: string | undefined, ext: string): string {
  const base = requested?.trim() ? requested.trim().replace(/\.[A-Za-z0-9]{1,5}$/, '') : null;
  return `${sanitizeFilename(base, info)}.${ext}`;
}

// ---------------------------------------------------------------------------
// Relay

export interface UpstreamOptions {
  method: 'GET' | 'HEAD';
  range?: string | undefined;
  ifRange?: string | undefined;
  /** the SSRF guard (formats of generic sites) */
  guard: boolean;
  /** aborted when the client goes away */
  signal: AbortSignal;
  /** until the response headers arrive */
  headersTimeoutMs: number;
}

export interface UpstreamResponse {
  status: number;
  headers: Headers;
  /** null for HEAD */
  body: Readable | null;
}

/**
 * Opens the format's URL with its headers and the client's Range; 4xx/5xx (but 416) become upstream_error.
 * GET bodies come through HttpClient.stream (the bulk transport the downloader uses); HEAD through request().
 */
export async function openUpstream(http: HttpClient, f: Format, opts: UpstreamOptions): Promise<UpstreamResponse> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(f.http_headers ?? {})) headers[k.toLowerCase()] = v;
  // Relayed as is: a compressed body would not match the Content-Length and ranges we pass on.
  headers['accept-encoding'] = 'identity';
  if (opts.range) headers.range = opts.range;
  if (opts.range && opts.ifRange) headers['if-range'] = opts.ifRange;
  const timer = new AbortController();
  const t = setTimeout(
    () => timer.abort(new AppError('upstream_timeout', 'Upstream did not answer in time')),
    opts.headersTimeoutMs,
  );
  const init = {
    headers,
    guard: opts.guard,
    signal: AbortSignal.any([opts.signal, timer.signal]),
    // The body can stream for hours; only the wait for headers is bounded (above).
    timeoutMs: 24 * 60 * 60 * 1000,
  };
  let res: UpstreamResponse;
  try {
    if (opts.method === 'HEAD') {
      const head = await http.request(f.url, { ...init, method: 'HEAD' });
      await head.body?.cancel().catch(() => undefined);
      res = { status: head.status, headers: head.headers, body: null };
    } else {
      const got = await http.stream(f.url, init);
      res = { status: got.status, headers: got.headers, body: got.body };
    }
  } catch (err) {
    if (timer.signal.aborted) throw timer.signal.reason as AppError;
    throw err;
  } finally {
    clearTimeout(t);
  }
  if (res.status >= 400 && res.status !== 416) {
    res.body?.on('error', () => undefined).destroy();
    throw new AppError(
      res.status === 429 ? 'rate_limited' : 'upstream_error',
      `The media server answered HTTP ${res.status}`,
      {
        status: res.status,
        host: new URL(f.url).hostname,
      },
    );
  }
  return res;
}

/** Response headers copied from a relayed upstream response. */
export const RELAYED_HEADERS = ['content-length', 'content-range', 'accept-ranges', 'last-modified', 'etag'] as const;

// ---------------------------------------------------------------------------
// Remux

export interface RemuxOptions {
  /** [video, audio], or one manifest */
  formats: Format[];
  ffmpegPath?: string;
  /** YTBH_UPSTREAM_REWRITE */
  upstreamRewrite?: string | undefined;
  /** the SSRF check of generic sites' URLs before ffmpeg opens them */
  guard: boolean;
  allowPrivateAddresses: boolean;
  /** The proxy ffmpeg connects through. Default: the guarded egress proxy unless private addresses are allowed or the rewrite is on. */
  egressProxy?: string;
  signal: AbortSignal;
  /** ffmpeg's per-read timeout */
  ioTimeoutMs: number;
  /** Test hook */
  onSpawn?: (pid: number) => void;
}

const MAX_STDERR = 16 * 1024;

/** `Name: value\r\n` lines; CR/LF inside a value would smuggle headers, so they go. */
function headerBlock(headers: Record<string, string>): string {
  return Object.entries(headers)
    .map(([k, v]) => `${k.replace(/[^A-Za-z0-9-]/g, '')}: ${v.replace(/[\r\n]+/g, ' ')}\r\n`)
    .join('');
}

/**
 * ffmpeg arguments for one http(s) input: rewritten URL, headers, protocols limited to http(s)
 * (and, `proxied`, the CONNECT tunnel ffmpeg opens to the egress proxy for https).
 */
export function ffmpegInputArgs(
  f: Format,
  upstreamRewrite: string | undefined,
  ioTimeoutMs: number,
  proxied = false,
): string[] {
  const { url, upstreamHost } = rewriteUrl(f.url, upstreamRewrite);
  let userAgent = DEFAULT_USER_AGENT;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(f.http_headers ?? {})) {
    if (k.toLowerCase() === 'user-agent') userAgent = v;
    else headers[k] = v;
  }
  if (upstreamHost) headers['X-Upstream-Host'] = upstreamHost;
  const block = headerBlock(headers);
  return [
    '-protocol_whitelist',
    ffmpegNetworkProtocols(proxied),
    '-rw_timeout',
    String(Math.max(1, ioTimeoutMs) * 1000),
    '-user_agent',
    userAgent.replace(/[\r\n]+/g, ' '),
    ...(block ? ['-headers', block] : []),
    '-i',
    url,
  ];
}

export function remuxArgs(
  opts: Pick<RemuxOptions, 'formats' | 'upstreamRewrite' | 'ioTimeoutMs'>,
  proxied = false,
): string[] {
  const inputs = opts.formats.flatMap((f) => ffmpegInputArgs(f, opts.upstreamRewrite, opts.ioTimeoutMs, proxied));
  const maps = opts.formats.length === 2 ? ['-map', '0:v:0', '-map', '1:a:0'] : ['-map', '0:v:0?', '-map', '0:a:0?'];
  // HLS carries AAC in MPEG-TS as ADTS frames; MP4 needs the raw form, and with an empty moov written up
  // front the muxer cannot insert the filter itself. Other audio codecs would make the filter fail.
  const audio = opts.formats[opts.formats.length - 1]!;
  const adts = audio.protocol === 'hls' && (audio.acodec === null || /^(mp4a|aac)/i.test(audio.acodec));
  return [
    '-nostdin',
    '-hide_banner',
    '-nostats',
    '-v',
    'error',
    ...inputs,
    ...maps,
    '-c',
    'copy',
    ...(adts ? ['-bsf:a', 'aac_adtstoasc'] : []),
    '-movflags',
    'frag_keyframe+empty_moov+default_base_moof',
    '-f',
    'mp4',
    'pipe:1',
  ];
}

async function checkInputs(opts: RemuxOptions): Promise<void> {
  for (const f of opts.formats) {
    const url = parseUserUrl(f.url);
    if (opts.guard) await assertPublicUrl(url, opts.allowPrivateAddresses);
    // A playlist names its own segment URLs, which ffmpeg fetches itself: unless private addresses are
    // allowed, it connects through the guarded egress proxy, so they meet the SSRF check too. Only the
    // rewrite cannot follow it there.
    if (isManifest(f)) {
      if (opts.upstreamRewrite) {
        throw new AppError('upstream_error', 'Playlists cannot be proxied while YTBH_UPSTREAM_REWRITE is set', {
          protocol: f.protocol,
        });
      }
    }
  }
}

function lastLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-4);
}

/**
 * Starts ffmpeg and resolves with its fragmented MP4 output once the first
 * bytes are there, so a failure to open the inputs is still an error response
 * (502), not an empty 200. Aborting `signal` kills ffmpeg; so does destroying
 * the returned stream. A non-zero exit after the start errors the stream, so
 * the client sees a cut connection rather than a clean end.
 */
export async function startRemux(opts: RemuxOptions): Promise<{ stream: Readable; pid: number | undefined }> {
  await checkInputs(opts);
  if (opts.signal.aborted) throw new AppError('upstream_error', 'The client went away');
  // Every connection ffmpeg makes (redirects included) meets the SSRF guard at connect time.
  const proxy = await egressProxyUrl({
    explicit: opts.egressProxy,
    allowPrivate: opts.allowPrivateAddresses,
    rewrite: Boolean(opts.upstreamRewrite),
  });
  const args = remuxArgs(opts, proxy !== undefined);
  const child = spawn(resolveFfmpegPath(opts.ffmpegPath), args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    shell: false,
    ...(proxy ? { env: { ...process.env, ...proxyEnv(proxy) } } : {}),
  });
  if (child.pid !== undefined) opts.onSpawn?.(child.pid);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    stderr = (stderr + d).slice(-MAX_STDERR);
  });
  let exited = false;
  const kill = () => {
    if (!exited) child.kill('SIGKILL');
  };
  opts.signal.addEventListener('abort', kill, { once: true });
  const out = new PassThrough();
  out.on('close', kill);

  return new Promise((resolve, reject) => {
    let started = false;
    child.on('error', (err: NodeJS.ErrnoException) => {
      exited = true;
      const e = new AppError(
        'internal_error',
        err.code === 'ENOENT' ? 'ffmpeg is not installed' : 'ffmpeg could not be started',
        {
          tool: 'ffmpeg',
        },
      );
      if (!started) reject(e);
      else out.destroy(e);
    });
    child.stdout.once('data', (chunk: Buffer) => {
      started = true;
      out.write(chunk);
      child.stdout.pipe(out, { end: false });
      resolve({ stream: out, pid: child.pid });
    });
    child.on('close', (code, signal) => {
      exited = true;
      opts.signal.removeEventListener('abort', kill);
      if (started) {
        if (code === 0) out.end();
        else out.destroy(new Error(`ffmpeg stopped (${code ?? signal})`));
        return;
      }
      if (opts.signal.aborted) return reject(new AppError('upstream_error', 'The client went away'));
      const lines = lastLines(stderr);
      const status = /Server returned (\d{3})|HTTP error (\d{3})/.exec(lines.join('\n'));
      reject(
        new AppError(
          'upstream_error',
          `Could not read the media: ${
            lines
              .at(-1)
              ?.replace(/^\[[^\]]*\]\s*/, '')
              .slice(0, 200) || `ffmpeg exited with ${code ?? signal}`
          }`,
          {
            tool: 'ffmpeg',
            ...(status ? { status: Number(status[1] ?? status[2]) } : {}),
          },
        ),
      );
    });
  });
}

// ---------------------------------------------------------------------------
// Embed page

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

const EMBED_CSS =
  'html,body{margin:0;height:100%;background:#000}video{display:block;width:100%;height:100%;object-fit:contain}';
const EMBED_CSS_HASH = createHash('sha256').update(EMBED_CSS).digest('base64');

/** Only our own media, the one inline style block; no scripts, frames, forms or plugins. */
export const EMBED_CSP = [
  "default-src 'none'",
  "media-src 'self'",
  `style-src 'sha256-${EMBED_CSS_HASH}'`,
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

export function embedHtml(title: string, src: string): string {
  const t = escapeHtml(title);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${t}</title>
<style>${EMBED_CSS}</style>
</head>
<body>
<video controls playsinline preload="metadata" src="${escapeHtml(src)}" title="${t}"></video>
</body>
</html>
`;
}
