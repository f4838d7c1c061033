/**
 * What is inside a local media file we produced: duration, container and every
 * stream. A thin layer over the extractor's ffprobe wrapper, locked to the
 * file protocol and the demuxers in INPUT_FORMATS.
 */
import { AppError, isAppError } from '../errors/app-error.js';
import { ffprobeLocalFile, type FfprobeJson, rate } from '../extract/ytdlp/probe.js';
import { assertLocalPath, INPUT_FORMATS, scrubPaths } from './local-path.js';

export type StreamKind = 'video' | 'audio' | 'subtitle' | 'data' | 'attachment' | 'other';

export interface MediaStream {
  /** the stream's index in the file (what `-map 0:N` takes) */
  index: number;
  kind: StreamKind;
  codec: string | null;
  width: number | null;
  height: number | null;
  fps: number | null;
  sampleRate: number | null;
  channels: number | null;
  language: string | null;
  /** cover art: a one-frame "video" stream in an audio file */
  attachedPic: boolean;
}

export interface MediaInfo {
  /** ffmpeg's demuxer name, e.g. `mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm`, `mpegts` */
  formatName: string | null;
  /** seconds; from the container, else the longest stream */
  duration: number | null;
  size: number | null;
  bitrate: number | null;
  streams: MediaStream[];
  /** the first real video stream (not cover art), if any */
  video: MediaStream | null;
  /** the first audio stream, if any */
  audio: MediaStream | null;
}

export interface ProbeMediaOptions {
  ffprobePath?: string;
  /** default 30 s */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** what to call the file in error messages (default `media file`) */
  label?: string;
}

const PROBE_TIMEOUT_MS = 30_000;

/** Probes a local file. Throws internal_error (without the path) when it cannot be read as media. */
export async function probeMedia(file: string, opts: ProbeMediaOptions = {}): Promise<MediaInfo> {
  const label = opts.label ?? 'media file';
  assertLocalPath(file, label);
  let json: FfprobeJson;
  try {
    json = await ffprobeLocalFile(file, {
      timeoutMs: opts.timeoutMs ?? PROBE_TIMEOUT_MS,
      formats: INPUT_FORMATS,
      label,
      ...(opts.ffprobePath ? { ffprobePath: opts.ffprobePath } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } catch (err) {
    if (opts.signal?.aborted || !isAppError(err)) throw err;
    const reason = (err.details as { reason?: unknown } | undefined)?.reason;
    // "<label>: Invalid data found when processing input" → "Could not read the <label>: Invalid data …"
    const why = typeof reason === 'string' ? scrubPaths(reason, { [file]: label }).replace(/^.*?: /, '') : '';
    throw new AppError('internal_error', why ? `Could not read the ${label}: ${why}` : err.message, {
      tool: 'ffprobe',
      reason: /Invalid data found|not on whitelist|Invalid argument/i.test(why) ? 'invalid_input' : 'failed',
      ...(why ? { stderr: [why] } : {}),
    });
  }
  return parseMediaInfo(json);
}

const positive = (v: unknown): number | null => {
  const n = typeof v === 'string' || typeof v === 'number' ? Number(v) : NaN;
  return Number.isFinite(n) && n > 0 ? n : null;
};

const KINDS = new Set<StreamKind>(['video', 'audio', 'subtitle', 'data', 'attachment']);

/** ffprobe JSON → MediaInfo. Pure. */
export function parseMediaInfo(json: FfprobeJson): MediaInfo {
  const streams: MediaStream[] = (json.streams ?? []).map((s, i) => {
    const kind = KINDS.has(s.codec_type as StreamKind) ? (s.codec_type as StreamKind) : 'other';
    return {
      index: typeof s.index === 'number' ? s.index : i,
      kind,
      codec: s.codec_name ?? null,
      width: positive(s.width),
      height: positive(s.height),
      fps: kind === 'video' ? (rate(s.avg_frame_rate) ?? rate(s.r_frame_rate)) : null,
      sampleRate: positive(s.sample_rate),
      channels: positive(s.channels),
      language: s.tags?.language && s.tags.language !== 'und' ? s.tags.language : null,
      attachedPic: s.disposition?.attached_pic === 1,
    };
  });
  const streamDurations = (json.streams ?? []).map((s) => positive(s.duration) ?? 0);
  const longest = Math.max(0, ...streamDurations);
  return {
    formatName: typeof json.format?.format_name === 'string' ? json.format.format_name : null,
    duration: positive(json.format?.duration) ?? (longest > 0 ? longest : null),
    size: positive(json.format?.size),
    bitrate: positive(json.format?.bit_rate),
    streams,
    video: streams.find((s) => s.kind === 'video' && !s.attachedPic) ?? null,
    audio: streams.find((s) => s.kind === 'audio') ?? null,
  };
}
