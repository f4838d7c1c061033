/**
 * Post-processing of downloaded media with ffmpeg: merging DASH video + audio,
 * audio extraction, container changes, subtitle conversion and thumbnails. All the heavy work runs
 * in an ffmpeg child process (through the bounded `runProcess`), so the event
 * loop only ever parses a few progress lines.
 *
 * Inputs are files this service wrote itself; they must be absolute paths and
 * are read through `file:` URLs with only the file protocol and a fixed list of
 * demuxers allowed, so a crafted download (say, an HLS playlist named .mp4)
 * cannot make ffmpeg read other local files. Output is written to a hidden
 * sibling and renamed into place on success, so a failed or aborted job never
 * leaves a half-written file behind under the real name.
 */
import { readFile, rename, rm, stat } from 'node:fs/promises';
import { AppError, isAppError } from '../errors/app-error.js';
import { runProcess } from '../extract/ytdlp/run.js';
import {
  AUDIO_ENCODE,
  AUDIO_FORMATS,
  type AudioFormat,
  audioFits,
  audioOnlyFits,
  languageTag,
  MUXER,
  subtitleCodec,
  VIDEO_CONTAINERS,
  VIDEO_ENCODE,
  type VideoContainer,
  videoFits,
} from './codecs.js';
import { assertLocalPath, fileUrl, INPUT_FORMATS, INPUT_PROTOCOLS, partialPath, scrubPaths } from './local-path.js';
import { type MediaInfo, type MediaStream, probeMedia } from './probe.js';
import { createProgressParser, type ProgressListener } from './progress.js';

export type { AudioFormat, VideoContainer } from './codecs.js';
export type { MediaInfo, MediaStream, StreamKind } from './probe.js';
export { probeMedia } from './probe.js';
export type { MediaProgress, ProgressListener } from './progress.js';

/** Default deadline for a merge / conversion (a long video transcoded on a slow box). */
export const DEFAULT_JOB_TIMEOUT_MS = 2 * 60 * 60 * 1000;
export const DEFAULT_THUMBNAIL_TIMEOUT_MS = 60_000;
/** ffmpeg's stderr kept for error messages (runProcess keeps the last 64 KiB; we quote a few lines) */
const STDERR_LINES = 8;

export function resolveFfmpegPath(explicit?: string): string {
  return explicit || process.env.FFMPEG_PATH || 'ffmpeg';
}

export interface MediaJobOptions {
  /** aborting kills ffmpeg (SIGKILL); the job rejects with the signal's reason */
  signal?: AbortSignal;
  /** at most 4 calls a second, never going backwards, the last one 100 % after success; throwing fails the job */
  onProgress?: ProgressListener;
  /** hard deadline, after which ffmpeg is killed (default DEFAULT_JOB_TIMEOUT_MS) */
  timeoutMs?: number;
  ffmpegPath?: string;
  ffprobePath?: string;
  /** learns the pid of the ffmpeg process (not of the ffprobe runs before it) */
  onSpawn?: (pid: number) => void;
}

export interface MediaMetadata {
  title?: string;
  artist?: string;
  /** e.g. `2024-05-01` or `2024` */
  date?: string;
}

export interface SubtitleInput {
  /** absolute path of a .vtt, .srt or .ass file */
  path: string;
  /** BCP 47 / ISO 639 language, e.g. `en`, `pt-BR`; dropped if malformed */
  lang: string;
}

export type StreamAction = 'copy' | 'transcode';

export interface MuxResult {
  /** what happened to the video stream; null when there was none */
  video: StreamAction | null;
  audio: StreamAction | null;
  subtitles: number;
  /** the duration progress was measured against */
  durationSeconds: number | null;
}

export interface MergeAvOptions extends MediaJobOptions {
  video: string;
  audio: string;
  output: string;
  container: VideoContainer;
  subtitles?: SubtitleInput[];
  metadata?: MediaMetadata;
  /** expected duration in seconds, for progress; default: the inputs' */
  durationHint?: number | null;
}

/**
 * Muxes a video-only and an audio-only file into one container, copying both
 * streams when the container takes their codecs and re-encoding only the one
 * that does not fit (audio → AAC for mp4, Opus for webm; video → H.264 / VP9).
 * Text subtitles are embedded as mov_text (mp4), WebVTT (webm) or SRT/ASS (mkv).
 */
export async function mergeAv(opts: MergeAvOptions): Promise<MuxResult> {
  assertContainer(opts.container);
  assertLocalPath(opts.video, 'video input');
  assertLocalPath(opts.audio, 'audio input');
  const subtitles = opts.subtitles ?? [];
  subtitles.forEach((s, i) => assertLocalPath(s?.path, `subtitle input ${i + 1}`));
  const labels: Record<string, string> = { [opts.video]: 'video input', [opts.audio]: 'audio input' };
  subtitles.forEach((s, i) => (labels[s.path] ??= `subtitle input ${i + 1}`));
  assertOutput(opts.output, Object.keys(labels));

  const [vInfo, aInfo] = await Promise.all([
    probeInput(opts.video, 'video input', opts),
    probeInput(opts.audio, 'audio input', opts),
  ]);
  if (!vInfo.video) throw new AppError('internal_error', 'The video input has no video stream');
  if (!aInfo.audio) throw new AppError('internal_error', 'The audio input has no audio stream');
  const c = opts.container;
  const plan = streamArgs(c, vInfo.video, aInfo.audio, 0, 1);

  const subArgs = subtitleArgs(c, subtitles, 2);

  const hint = opts.durationHint;
  const durationSeconds = typeof hint === 'number' && hint > 0 ? hint : maxDuration(vInfo, aInfo);
  await runJob(opts, {
    operation: 'Merging video and audio',
    output: opts.output,
    labels,
    durationSeconds,
    args: (out) => [
      ...inputArgs(opts.video),
      ...inputArgs(opts.audio),
      ...subtitles.flatMap((s) => inputArgs(s.path, SUBTITLE_INPUT_FORMATS)),
      ...plan.args,
      ...subArgs,
      ...metadataArgs(opts.metadata),
      ...muxArgs(c),
      out,
    ],
  });
  return { video: plan.video, audio: plan.audio, subtitles: subtitles.length, durationSeconds };
}

export interface AudioJobOptions extends MediaJobOptions {
  input: string;
  output: string;
  format: AudioFormat;
  metadata?: MediaMetadata;
}

/**
 * Extracts the (first) audio stream into an m4a, mp3 or Ogg Opus file: copied
 * when its codec already fits (AAC → m4a, MP3 → mp3, Opus → opus), otherwise
 * encoded (AAC 192k, LAME VBR -q 2, Opus 128k). Video and cover art are dropped.
 */
export async function remuxOrTranscodeAudio(opts: AudioJobOptions): Promise<{
  audio: StreamAction;
  durationSeconds: number | null;
}> {
  if (!AUDIO_FORMATS.includes(opts.format)) throw new AppError('internal_error', 'Unknown audio format');
  assertLocalPath(opts.input, 'input');
  assertOutput(opts.output, [opts.input]);
  const info = await probeInput(opts.input, 'input', opts);
  if (!info.audio) throw new AppError('internal_error', 'The input has no audio stream');
  const copy = audioOnlyFits(opts.format, info.audio.codec);
  const f = opts.format;
  await runJob(opts, {
    operation: 'Converting the audio',
    output: opts.output,
    labels: { [opts.input]: 'input' },
    durationSeconds: info.duration,
    args: (out) => [
      ...inputArgs(opts.input),
      '-map',
      `0:${info.audio!.index}`,
      '-vn',
      '-sn',
      '-dn',
      '-c:a',
      ...(copy ? ['copy'] : AUDIO_ENCODE[f]),
      ...metadataArgs(opts.metadata),
      ...(f === 'mp3' ? ['-id3v2_version', '3'] : []),
      ...(f === 'm4a' ? ['-movflags', '+faststart'] : []),
      '-f',
      MUXER[f],
      out,
    ],
  });
  return { audio: copy ? 'copy' : 'transcode', durationSeconds: info.duration };
}

export interface RemuxOptions extends MediaJobOptions {
  input: string;
  output: string;
  container: VideoContainer;
  /** text subtitles to add (the input's own subtitle streams are dropped) */
  subtitles?: SubtitleInput[];
  metadata?: MediaMetadata;
}

/**
 * Rewrites a file (e.g. an HLS `.ts`, or a progressive mp4/webm) into another
 * container, keeping its first video and first audio stream: copied where the
 * container takes the codec, re-encoded where it does not. Text subtitles are
 * embedded as in mergeAv.
 */
export async function remuxToContainer(opts: RemuxOptions): Promise<MuxResult> {
  assertContainer(opts.container);
  assertLocalPath(opts.input, 'input');
  const subtitles = opts.subtitles ?? [];
  subtitles.forEach((s, i) => assertLocalPath(s?.path, `subtitle input ${i + 1}`));
  const labels: Record<string, string> = { [opts.input]: 'input' };
  subtitles.forEach((s, i) => (labels[s.path] ??= `subtitle input ${i + 1}`));
  assertOutput(opts.output, Object.keys(labels));
  const info = await probeInput(opts.input, 'input', opts);
  if (!info.video && !info.audio) throw new AppError('internal_error', 'The input has no audio or video');
  const plan = streamArgs(opts.container, info.video, info.audio, 0, 0);
  await runJob(opts, {
    operation: 'Remuxing the media',
    output: opts.output,
    labels,
    durationSeconds: info.duration,
    args: (out) => [
      ...inputArgs(opts.input),
      ...subtitles.flatMap((s) => inputArgs(s.path, SUBTITLE_INPUT_FORMATS)),
      ...plan.args,
      // -sn would also drop the mapped subtitle inputs; without them it keeps the input's own out.
      ...(subtitles.length ? subtitleArgs(opts.container, subtitles, 1) : ['-sn']),
      '-dn',
      ...metadataArgs(opts.metadata),
      ...muxArgs(opts.container),
      out,
    ],
  });
  return { video: plan.video, audio: plan.audio, subtitles: subtitles.length, durationSeconds: info.duration };
}

export type SubtitleFormat = 'vtt' | 'srt' | 'ass';

export interface SubtitleConvertOptions extends MediaJobOptions {
  /** a .vtt, .srt or .ass file (checked by content, not by name) */
  input: string;
  output: string;
  format: SubtitleFormat;
}

const SUBTITLE_OUT: Record<SubtitleFormat, { codec: string; muxer: string }> = {
  vtt: { codec: 'webvtt', muxer: 'webvtt' },
  srt: { codec: 'srt', muxer: 'srt' },
  ass: { codec: 'ass', muxer: 'ass' },
};

/**
 * Rewrites a text subtitle file as WebVTT, SRT or ASS. Also what proves an
 * upstream file parses at all: ffmpeg refuses anything that is not one of
 * the three (no playlists or other demuxers) and writes only cues it read;
 * a result without a single cue is refused too.
 */
export async function convertSubtitle(opts: SubtitleConvertOptions): Promise<void> {
  const out = SUBTITLE_OUT[opts.format];
  if (!out) throw new AppError('internal_error', 'Unknown subtitle format');
  assertLocalPath(opts.input, 'input');
  assertOutput(opts.output, [opts.input]);
  await runJob(
    { ...opts, timeoutMs: opts.timeoutMs ?? DEFAULT_THUMBNAIL_TIMEOUT_MS },
    {
      operation: 'Converting the subtitles',
      output: opts.output,
      labels: { [opts.input]: 'input' },
      durationSeconds: null,
      args: (o) => [
        ...inputArgs(opts.input, SUBTITLE_INPUT_FORMATS),
        '-map',
        '0:s:0',
        '-c:s',
        out.codec,
        '-f',
        out.muxer,
        o,
      ],
    },
  );
  // ffmpeg's SRT reader takes almost any text and then writes a file with no cues in it.
  const text = await readFile(opts.output, 'utf8');
  if (!(opts.format === 'ass' ? /^Dialogue:/m : /-->/).test(text)) {
    await rm(opts.output, { force: true });
    throw new AppError('internal_error', 'Converting the subtitles failed: the input has no cues', {
      tool: 'ffmpeg',
      reason: 'invalid_input',
    });
  }
}

export interface ThumbnailOptions {
  input: string;
  /** a .jpg path */
  output: string;
  /** clamped into the video's duration */
  atSeconds: number;
  /** output width in pixels (the height keeps the aspect ratio); default: the video's own */
  width?: number;
  signal?: AbortSignal;
  /** default DEFAULT_THUMBNAIL_TIMEOUT_MS */
  timeoutMs?: number;
  ffmpegPath?: string;
  ffprobePath?: string;
  onSpawn?: (pid: number) => void;
}

/** Writes one frame of the video as a JPEG (quality 3 on ffmpeg's 2–31 scale). */
export async function extractThumbnail(opts: ThumbnailOptions): Promise<{ atSeconds: number }> {
  assertLocalPath(opts.input, 'input');
  assertOutput(opts.output, [opts.input]);
  const width = opts.width;
  if (width !== undefined && (!Number.isInteger(width) || width < 16 || width > 7680)) {
    throw new AppError('internal_error', 'The thumbnail width must be an integer from 16 to 7680');
  }
  const info = await probeInput(opts.input, 'input', opts);
  if (!info.video) throw new AppError('internal_error', 'The input has no video stream');
  let at = Number.isFinite(opts.atSeconds) && opts.atSeconds > 0 ? opts.atSeconds : 0;
  // Seeking to (or past) the very end yields no frame at all.
  if (info.duration !== null) at = Math.min(at, Math.max(0, info.duration - 0.5));
  const atText = at.toFixed(3);
  await runJob(
    { ...opts, timeoutMs: opts.timeoutMs ?? DEFAULT_THUMBNAIL_TIMEOUT_MS },
    {
      operation: 'Extracting a thumbnail',
      output: opts.output,
      labels: { [opts.input]: 'input' },
      durationSeconds: null,
      args: (out) => [
        '-ss',
        atText,
        ...inputArgs(opts.input),
        '-map',
        `0:${info.video!.index}`,
        '-frames:v',
        '1',
        ...(width ? ['-vf', `scale=${width}:-2`] : []),
        '-an',
        '-sn',
        '-dn',
        '-c:v',
        'mjpeg',
        '-q:v',
        '3',
        '-f',
        'image2',
        '-update',
        '1',
        out,
      ],
    },
  );
  return { atSeconds: Number(atText) };
}

// ---------------------------------------------------------------------------

function assertContainer(c: unknown): asserts c is VideoContainer {
  if (!VIDEO_CONTAINERS.includes(c as VideoContainer)) throw new AppError('internal_error', 'Unknown container');
}

function assertOutput(output: unknown, inputs: string[]): asserts output is string {
  assertLocalPath(output, 'output');
  if (inputs.includes(output)) throw new AppError('internal_error', 'The output must not overwrite an input');
}

/** Per-input options: they apply to the `-i` that follows. */
function inputArgs(file: string, formats = INPUT_FORMATS): string[] {
  return ['-protocol_whitelist', INPUT_PROTOCOLS, '-format_whitelist', formats, '-i', fileUrl(file)];
}

/** Demuxers a subtitle file may be read with. */
const SUBTITLE_INPUT_FORMATS = 'webvtt,srt,ass';

/** `-map`, codec and language arguments for subtitle files given as inputs `first`, `first + 1`, … */
function subtitleArgs(c: VideoContainer, subtitles: SubtitleInput[], first: number): string[] {
  const args: string[] = [];
  subtitles.forEach((s, i) => {
    args.push('-map', `${first + i}:s:0`, `-c:s:${i}`, subtitleCodec(c, s.path));
    const lang = languageTag(c, s.lang);
    if (lang) args.push(`-metadata:s:s:${i}`, `language=${lang}`);
  });
  return args;
}

function probeInput(file: string, label: string, opts: MediaJobOptions): Promise<MediaInfo> {
  return probeMedia(file, {
    label,
    ...(opts.ffprobePath ? { ffprobePath: opts.ffprobePath } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}

function maxDuration(...infos: MediaInfo[]): number | null {
  const d = Math.max(0, ...infos.map((i) => i.duration ?? 0));
  return d > 0 ? d : null;
}

/** `-map` and codec arguments for one video and one audio stream (either may be absent). */
function streamArgs(
  c: VideoContainer,
  v: MediaStream | null,
  a: MediaStream | null,
  vInput: number,
  aInput: number,
): { args: string[]; video: StreamAction | null; audio: StreamAction | null } {
  const args: string[] = [];
  let video: StreamAction | null = null;
  let audio: StreamAction | null = null;
  if (v) {
    video = videoFits(c, v.codec) ? 'copy' : 'transcode';
    args.push('-map', `${vInput}:${v.index}`, '-c:v', ...(video === 'copy' ? ['copy'] : VIDEO_ENCODE[c]));
    // Apple players want HEVC in MP4 tagged hvc1, not ffmpeg's default hev1.
    if (video === 'copy' && c === 'mp4' && v.codec === 'hevc') args.push('-tag:v', 'hvc1');
  }
  if (a) {
    audio = audioFits(c, a.codec) ? 'copy' : 'transcode';
    args.push('-map', `${aInput}:${a.index}`, '-c:a', ...(audio === 'copy' ? ['copy'] : AUDIO_ENCODE[c]));
    // ADTS AAC (from MPEG-TS / HLS) needs its headers turned into MP4's AudioSpecificConfig.
    if (audio === 'copy' && c === 'mp4' && a.codec === 'aac') args.push('-bsf:a', 'aac_adtstoasc');
  }
  return { args, video, audio };
}

function muxArgs(c: VideoContainer): string[] {
  return ['-f', MUXER[c], ...(c === 'mp4' ? ['-movflags', '+faststart'] : [])];
}

/** Global tags; values come from upstream titles, so control characters go and length is capped. */
function metadataArgs(m: MediaMetadata | undefined): string[] {
  if (!m) return [];
  const args: string[] = [];
  for (const key of ['title', 'artist', 'date'] as const) {
    const v = m[key];
    if (typeof v !== 'string') continue;
    const clean = v
      .replace(/[\0-\x08\x0b-\x1f\x7f]/g, '')
      .trim()
      .slice(0, 1024);
    if (clean) args.push('-metadata', `${key}=${clean}`);
  }
  return args;
}

interface JobSpec {
  /** what failed, for the error message: "<operation> failed: …" */
  operation: string;
  output: string;
  /** local paths → the words that replace them in error text */
  labels: Record<string, string>;
  durationSeconds: number | null;
  /** everything after the global options, given the (temporary) output URL */
  args: (outputUrl: string) => string[];
}

async function runJob(opts: MediaJobOptions, spec: JobSpec): Promise<void> {
  const tmp = partialPath(spec.output);
  const labels = { ...spec.labels, [tmp]: 'output', [spec.output]: 'output' };
  const timeoutMs = opts.timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS;
  const progress = opts.onProgress
    ? createProgressParser({ durationSeconds: spec.durationSeconds, onProgress: opts.onProgress })
    : null;
  const args = [
    '-nostdin',
    '-hide_banner',
    '-y',
    '-v',
    'error',
    ...(progress ? ['-progress', 'pipe:1', '-nostats'] : ['-nostats']),
    ...spec.args(fileUrl(tmp)),
  ];
  let done = false;
  try {
    let res;
    try {
      res = await runProcess(resolveFfmpegPath(opts.ffmpegPath), args, {
        timeoutMs,
        // stdout carries only progress lines; this bounds any one line
        maxStdoutBytes: 64 * 1024,
        onStdoutLine: (line) => progress?.line(line),
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.onSpawn ? { onSpawn: opts.onSpawn } : {}),
      });
    } catch (err) {
      throw runError(err, spec.operation, timeoutMs, opts.signal);
    }
    if (res.code !== 0) throw ffmpegFailure(spec.operation, res.stderr, res.code, labels);
    const size = await stat(tmp).then(
      (s) => s.size,
      () => 0,
    );
    if (size === 0) {
      throw new AppError('internal_error', `${spec.operation} failed: ffmpeg produced no output`, {
        tool: 'ffmpeg',
        reason: 'empty_output',
      });
    }
    await rename(tmp, spec.output);
    done = true;
  } finally {
    if (!done) await rm(tmp, { force: true }).catch(() => undefined);
  }
  progress?.finish();
}

/** runProcess's own failures, reworded for a local job: a timeout here is ours, not an upstream's. */
function runError(err: unknown, operation: string, timeoutMs: number, signal?: AbortSignal): unknown {
  if (signal?.aborted || !isAppError(err)) return err;
  if (err.code === 'upstream_timeout') {
    return new AppError('internal_error', `${operation} timed out after ${timeoutMs} ms`, {
      tool: 'ffmpeg',
      reason: 'timeout',
      timeoutMs,
    });
  }
  if (err.code === 'upstream_error') {
    return new AppError('internal_error', `${operation} failed: ${err.message}`, { tool: 'ffmpeg', reason: 'output' });
  }
  return err;
}

// Lines ffmpeg prints after the real cause; the message quotes the line before them.
const GENERIC_LINE =
  /^(?:Conversion failed!?|Error initializing output stream\b.*|Could not write header for output file\b.*|Error while (?:opening|filtering|decoding|processing)\b.*|Exiting normally.*)$/i;

/** A non-zero ffmpeg exit as internal_error, quoting its stderr with no local paths in it. */
export function ffmpegFailure(
  operation: string,
  stderr: string,
  exitCode: number | null,
  labels: Record<string, string>,
): AppError {
  const lines = scrubPaths(stderr, labels)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-STDERR_LINES);
  const cause = [...lines].reverse().find((l) => !GENERIC_LINE.test(l)) ?? lines.at(-1);
  const summary = (cause ?? `ffmpeg exited with code ${exitCode ?? 'unknown'}`)
    .replace(/^\[[^\]]*\]\s*/, '') // "[mov,mp4,m4a,3gp,3g2,mj2] " log prefix
    .slice(0, 300);
  return new AppError('internal_error', `${operation} failed: ${summary}`, {
    tool: 'ffmpeg',
    reason: /Invalid data found when processing input|moov atom not found|EBML header parsing failed/i.test(
      lines.join('\n'),
    )
      ? 'invalid_input'
      : 'failed',
    exitCode,
    stderr: lines,
  });
}
