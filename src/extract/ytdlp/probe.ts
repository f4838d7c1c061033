/**
 * yt-dlp's generic extractor reports direct files and bare HLS playlists with
 * no duration, size or codecs (it never looks inside the media). ffprobe
 * fills those gaps, and tells a real media file from, say, a text file that
 * yt-dlp happily calls a "direct link".
 */
import path from 'node:path';
import { ffmpegNetworkProtocols, proxyEnv } from '../../infra/http-client/egress-proxy.js';
import { AppError } from '../../errors/app-error.js';
import type { Format, FormatKind, VideoInfo } from '../model.js';
import { runProcess } from './run.js';

export interface ProbeResult {
  duration: number | null;
  /** bytes; only meaningful for a single file, not a playlist */
  size: number | null;
  bitrate: number | null;
  video: { codec: string | null; width: number | null; height: number | null; fps: number | null } | null;
  audio: { codec: string | null } | null;
}

export interface ProbeOptions {
  ffprobePath?: string;
  timeoutMs: number;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  onSpawn?: (pid: number) => void;
  /** Every connection goes through this proxy (the guarded egress proxy). */
  proxy?: string;
}

export function resolveFfprobePath(explicit?: string): string {
  return explicit || process.env.FFPROBE_PATH || 'ffprobe';
}

function headerArgs(headers: Record<string, string> = {}): string[] {
  const safe = Object.entries(headers).filter(([k, v]) => !/[\r\n]/.test(k + v));
  const ua = safe.find(([k]) => k.toLowerCase() === 'user-agent')?.[1];
  const rest = safe.filter(([k]) => k.toLowerCase() !== 'user-agent').map(([k, v]) => `${k}: ${v}\r\n`);
  return [...(ua ? ['-user_agent', ua] : []), ...(rest.length ? ['-headers', rest.join('')] : [])];
}

const SHOW_ARGS = ['-hide_banner', '-v', 'error', '-print_format', 'json', '-show_format', '-show_streams'];

/** Probes one http(s) media URL (file or HLS playlist). Throws unsupported_url when it is not media. */
export async function ffprobe(url: string, opts: ProbeOptions): Promise<ProbeResult> {
  const args = [
    ...SHOW_ARGS,
    '-protocol_whitelist',
    ffmpegNetworkProtocols(opts.proxy !== undefined),
    '-rw_timeout',
    String(opts.timeoutMs * 1000), // microseconds
    ...headerArgs(opts.headers),
    '-i',
    url,
  ];
  const res = await runProcess(resolveFfprobePath(opts.ffprobePath), args, {
    timeoutMs: opts.timeoutMs,
    maxStdoutBytes: 1024 * 1024,
    ...(opts.proxy ? { env: proxyEnv(opts.proxy) } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onSpawn ? { onSpawn: opts.onSpawn } : {}),
  });
  if (res.code !== 0) {
    if (/Invalid data found/i.test(res.stderr)) throw notMedia();
    throw new AppError('upstream_error', 'Could not probe the media', { reason: res.stderr.trim().split('\n').at(-1) });
  }
  const result = parseProbe(JSON.parse(res.stdout) as unknown);
  if (!result.video && !result.audio) throw notMedia();
  return result;
}

export interface LocalProbeOptions {
  ffprobePath?: string;
  timeoutMs: number;
  signal?: AbortSignal;
  /** demuxers the file may be read with (ffmpeg's `-format_whitelist`); default: any */
  formats?: string;
  /** what to call the file in error text (default: its base name) */
  label?: string;
}

/** ffprobe's `-show_format -show_streams` JSON, as far as we read it. */
export interface FfprobeJson {
  format?: Record<string, unknown>;
  streams?: ProbeStream[];
}

/**
 * Probes a local file that we wrote ourselves (never a path from a user): only
 * the file protocol is allowed, so the file cannot make ffprobe open anything
 * else. Returns the raw JSON; throws internal_error when ffprobe cannot read
 * it, with ffprobe's reason minus the directory.
 */
export async function ffprobeLocalFile(file: string, opts: LocalProbeOptions): Promise<FfprobeJson> {
  const args = [
    ...SHOW_ARGS,
    '-protocol_whitelist',
    'file',
    ...(opts.formats ? ['-format_whitelist', opts.formats] : []),
    '-i',
    `file:${file}`,
  ];
  const res = await runProcess(resolveFfprobePath(opts.ffprobePath), args, {
    timeoutMs: opts.timeoutMs,
    maxStdoutBytes: 4 * 1024 * 1024,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  if (res.code !== 0) {
    const last = res.stderr.trim().split('\n').at(-1) ?? '';
    const label = opts.label ?? path.basename(file);
    const reason = last.split(`file:${file}`).join(label).split(file).join(label);
    throw new AppError('internal_error', 'Could not read the media file', { reason });
  }
  try {
    return JSON.parse(res.stdout) as FfprobeJson;
  } catch {
    throw new AppError('internal_error', 'ffprobe printed invalid JSON');
  }
}

function notMedia(): AppError {
  return new AppError('unsupported_url', 'The URL does not point to a video');
}

const numeric = (v: unknown): number | null => {
  const n = typeof v === 'string' || typeof v === 'number' ? Number(v) : NaN;
  return Number.isFinite(n) && n > 0 ? n : null;
};

/** "30000/1001" → 29.97; "0/0" → null */
export function rate(v: unknown): number | null {
  const [n, d] = String(v ?? '')
    .split('/')
    .map(Number);
  return n && d ? Math.round((n / d) * 1000) / 1000 : null;
}

export interface ProbeStream {
  index?: number;
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  sample_rate?: string;
  channels?: number;
  duration?: string;
  tags?: Record<string, string>;
  // cover art in audio files shows up as a one-frame video stream
  disposition?: { attached_pic?: number };
}

/** ffprobe `-show_format -show_streams` JSON → ProbeResult. Pure. */
export function parseProbe(json: unknown): ProbeResult {
  const j = (json ?? {}) as { format?: Record<string, unknown>; streams?: ProbeStream[] };
  const streams = j.streams ?? [];
  const v = streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  const a = streams.find((s) => s.codec_type === 'audio');
  const hls = j.format?.format_name === 'hls';
  return {
    duration: numeric(j.format?.duration),
    // For HLS these describe the playlist text, not the media.
    size: hls ? null : numeric(j.format?.size),
    bitrate: hls ? null : numeric(j.format?.bit_rate),
    video: v
      ? {
          codec: v.codec_name ?? null,
          width: numeric(v.width),
          height: numeric(v.height),
          fps: rate(v.avg_frame_rate) ?? rate(v.r_frame_rate),
        }
      : null,
    audio: a ? { codec: a.codec_name ?? null } : null,
  };
}

/** Fills the gaps yt-dlp left in a format; never overrides what it did report. */
export function applyProbe(f: Format, p: ProbeResult): Format {
  // A null codec means either "no such stream" or "unknown"; only both-null means yt-dlp knew nothing.
  const blind = f.vcodec === null && f.acodec === null;
  const kind: FormatKind = p.video && p.audio ? 'muxed' : p.video ? 'video' : 'audio';
  const out: Format = {
    ...f,
    kind: blind ? kind : f.kind,
    vcodec: blind ? (p.video?.codec ?? null) : f.vcodec,
    acodec: blind ? (p.audio?.codec ?? null) : f.acodec,
    width: f.width ?? p.video?.width ?? null,
    height: f.height ?? p.video?.height ?? null,
    fps: f.fps ?? p.video?.fps ?? null,
    bitrate: f.bitrate ?? (p.bitrate === null ? null : Math.round(p.bitrate)),
  };
  if (f.filesize === null && p.size !== null && f.protocol === 'https') {
    out.filesize = p.size;
    delete out.filesize_approx;
  }
  return out;
}

/** Formats worth probing: those yt-dlp knows nothing about. */
export function needsProbe(info: VideoInfo, f: Format): boolean {
  if (f.protocol === 'dash') return false;
  const blind = f.vcodec === null && f.acodec === null;
  return blind || (f.kind !== 'audio' && f.width === null) || info.duration === null;
}
