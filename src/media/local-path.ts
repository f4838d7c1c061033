/**
 * The media tools only ever read and write files this service created itself.
 * These helpers enforce that shape (absolute, no control characters), build
 * the `file:` URLs ffmpeg is handed, and keep local paths out of the error
 * text that ends up in API responses.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { AppError } from '../errors/app-error.js';

/**
 * Demuxers ffmpeg/ffprobe may open our inputs with. Everything a download can
 * be (MP4/M4A, WebM/MKV, MPEG-TS, Ogg, raw audio, FLV) plus text subtitles;
 * not HLS, concat, AVI, image sequences or lavfi, the formats through which a
 * crafted "video" can make ffmpeg read other local files.
 */
export const INPUT_FORMATS = 'mov,matroska,mpegts,ogg,mp3,aac,ac3,eac3,flac,wav,flv,webvtt,srt,ass';

/** Protocols for local inputs: the file itself, and pipes for nothing else. */
export const INPUT_PROTOCOLS = 'file,pipe';

/** Throws internal_error unless `p` is an absolute path with no control characters. */
export function assertLocalPath(p: unknown, label: string): asserts p is string {
  if (typeof p !== 'string' || !path.isAbsolute(p) || /[\0-\x1f\x7f]/.test(p)) {
    throw new AppError('internal_error', `The ${label} must be an absolute local path`);
  }
}

/** `file:` URL for ffmpeg: a path can then never be read as another protocol or an option. */
export function fileUrl(p: string): string {
  return `file:${p}`;
}

/** A hidden sibling of `output` to write to, then rename into place. */
export function partialPath(output: string): string {
  return path.join(path.dirname(output), `.${path.basename(output)}.${randomBytes(4).toString('hex')}.part`);
}

/**
 * Replaces the given local paths (as themselves or as `file:` URLs) with their
 * labels, then any remaining absolute path with `<path>`, and drops the
 * `@ 0x55…` pointers ffmpeg puts in its log prefixes.
 */
export function scrubPaths(text: string, labels: Record<string, string>): string {
  let out = text;
  const known = Object.entries(labels).sort(([a], [b]) => b.length - a.length);
  for (const [p, label] of known) {
    if (!p) continue;
    out = out.split(fileUrl(p)).join(label).split(p).join(label);
  }
  return out
    .replace(/ @ 0x[0-9a-f]+\]/gi, ']')
    .replace(/(^|[\s'"([=,])(?:file:)?\/[^\s'"),]*/g, '$1<path>')
    .replace(/(^|[\s'"([=,])file:[^\s'"),]*/g, '$1<path>');
}
