/**
 * Download options: what a client may ask for (DownloadOptionsInput, checked
 * by DownloadOptionsSchema), how missing fields are filled from the user's
 * stored preferences (resolveOptions), and the file name a download gets
 * (sanitizeFilename). Everything here is pure.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { AppError } from '../errors/app-error.js';
import type { VideoInfo } from '../extract/model.js';

export const QUALITIES = ['best', '2160', '1440', '1080', '720', '480', '360', '240', '144', 'worst'] as const;
export type Quality = (typeof QUALITIES)[number];

export const VIDEO_CONTAINERS = ['mp4', 'webm', 'mkv'] as const;
export type VideoContainer = (typeof VIDEO_CONTAINERS)[number];
export const AUDIO_CONTAINERS = ['m4a', 'mp3', 'opus'] as const;
export type AudioContainer = (typeof AUDIO_CONTAINERS)[number];
export const CONTAINERS = [...VIDEO_CONTAINERS, ...AUDIO_CONTAINERS] as const;
export type Container = VideoContainer | AudioContainer;

export const VIDEO_CODECS = ['h264', 'vp9', 'av1', 'any'] as const;
export type VideoCodecPreference = (typeof VIDEO_CODECS)[number];

export const SUBTITLE_MODES = ['embed', 'sidecar'] as const;
export type SubtitleMode = (typeof SUBTITLE_MODES)[number];

export const MAX_LANGUAGE_LENGTH = 35;
export const MAX_SUBTITLE_LANGUAGES = 20;
export const MAX_FILENAME_TEMPLATE_LENGTH = 200;
/** Bytes (UTF-8) of a sanitized file name, before the extension; leaves room for `.f137.webm.part` and the like. */
export const MAX_FILENAME_BYTES = 180;

/** BCP-47-ish: `en`, `en-US`, `zh-Hans`, `pt_BR`, BiliBili's `ai-zh`. */
export const LANGUAGE_PATTERN = '^[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*$';
const LANGUAGE_RE = new RegExp(LANGUAGE_PATTERN);

export const DEFAULT_QUALITY: Quality = 'best';
export const DEFAULT_VIDEO_CONTAINER: VideoContainer = 'mp4';
export const DEFAULT_AUDIO_CONTAINER: AudioContainer = 'm4a';
export const DEFAULT_VIDEO_CODEC: VideoCodecPreference = 'any';
export const DEFAULT_FILENAME_TEMPLATE = '{title} [{id}]';

export interface SubtitleOptions {
  languages: string[];
  mode: SubtitleMode;
}

/** Fully resolved options: what a task stores and the worker obeys. */
export interface DownloadOptions {
  quality: Quality;
  /** the output container */
  format: Container;
  audio_only: boolean;
  video_codec: VideoCodecPreference;
  audio_language?: string;
  subtitles?: SubtitleOptions;
  filename_template?: string;
}

const literals = <T extends string>(values: readonly T[]) => values.map((v) => Type.Literal(v));

const LanguageSchema = Type.String({ minLength: 1, maxLength: MAX_LANGUAGE_LENGTH, pattern: LANGUAGE_PATTERN });

export const SubtitleOptionsSchema = Type.Object(
  {
    languages: Type.Array(LanguageSchema, {
      maxItems: MAX_SUBTITLE_LANGUAGES,
      description: 'Subtitle languages to fetch; an empty list turns subtitles off',
    }),
    mode: Type.Optional(
      Type.Union(literals(SUBTITLE_MODES), {
        description: 'embed into the file or write next to it (default: embed; sidecar for audio)',
      }),
    ),
  },
  { additionalProperties: false },
);

/** The request body's `options` as a client sends them: every field optional, nothing unknown. */
export const DownloadOptionsSchema = Type.Object(
  {
    quality: Type.Optional(
      Type.Union(literals(QUALITIES), { description: 'Maximum video height, or best/worst (default: preference)' }),
    ),
    format: Type.Optional(
      Type.Union(literals(CONTAINERS), { description: 'Output container: mp4, webm, mkv; m4a, mp3, opus for audio' }),
    ),
    audio_only: Type.Optional(Type.Boolean()),
    video_codec: Type.Optional(Type.Union(literals(VIDEO_CODECS))),
    audio_language: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: MAX_LANGUAGE_LENGTH,
        pattern: LANGUAGE_PATTERN,
        description: 'Preferred audio track language (BCP-47, e.g. en, en-US)',
      }),
    ),
    subtitles: Type.Optional(SubtitleOptionsSchema),
    filename_template: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: MAX_FILENAME_TEMPLATE_LENGTH,
        description: 'Placeholders: {title} {id} {uploader} {platform} {upload_date} {quality}',
      }),
    ),
  },
  { additionalProperties: false, title: 'DownloadOptions' },
);

export type DownloadOptionsInput = Static<typeof DownloadOptionsSchema>;

/** The user_preferences columns that feed defaults. Values come from the database and are not trusted. */
export interface DownloadPreferences {
  default_quality?: string | null;
  default_format?: string | null;
  default_audio_format?: string | null;
  video_codec?: string | null;
  audio_language?: string | null;
  subtitles?: readonly string[] | null;
}

export function isVideoContainer(v: unknown): v is VideoContainer {
  return (VIDEO_CONTAINERS as readonly unknown[]).includes(v);
}

export function isAudioContainer(v: unknown): v is AudioContainer {
  return (AUDIO_CONTAINERS as readonly unknown[]).includes(v);
}

export function isValidLanguage(v: unknown): v is string {
  return typeof v === 'string' && v.length <= MAX_LANGUAGE_LENGTH && LANGUAGE_RE.test(v);
}

/** A stored preference string, or undefined when it is not one of `allowed` (`1080p` is read as `1080`). */
function pref<T extends string>(
  value: string | null | undefined,
  allowed: readonly T[],
  stripP = false,
): T | undefined {
  if (typeof value !== 'string') return undefined;
  let v = value.trim().toLowerCase();
  if (stripP) v = v.replace(/^(\d+)p$/, '$1');
  return (allowed as readonly string[]).includes(v) ? (v as T) : undefined;
}

function languages(list: readonly unknown[]): string[] {
  return [...new Set(list.filter(isValidLanguage))].slice(0, MAX_SUBTITLE_LANGUAGES);
}

/**
 * Fills what the client left out from the user's preferences (invalid
 * preferences fall back to best / mp4 / m4a / any) and reconciles the
 * container with audio_only:
 *  - an audio container (m4a, mp3, opus) implies audio_only;
 *  - audio_only with a video container (or none) gets the audio default;
 *  - otherwise the download is a video in a video container.
 * Throws validation_failed for input the schema rejects and for an audio
 * container sent with an explicit `audio_only: false`.
 */
export function resolveOptions(
  input: DownloadOptionsInput | undefined,
  prefs?: DownloadPreferences | null,
): DownloadOptions {
  const given: DownloadOptionsInput = input ?? {};
  if (!Value.Check(DownloadOptionsSchema, given)) {
    const errors = [...Value.Errors(DownloadOptionsSchema, given)]
      .slice(0, 10)
      .map((e) => ({ path: e.path, message: e.message }));
    throw new AppError('validation_failed', 'Invalid download options', { errors });
  }
  const p = prefs ?? {};

  let audioOnly = given.audio_only;
  let format: Container | undefined = given.format;
  if (isAudioContainer(format)) {
    if (audioOnly === false) {
      throw new AppError(
        'validation_failed',
        `Format ${format} is audio only; it cannot be used with audio_only: false`,
        {
          format,
          audio_only: false,
        },
      );
    }
    audioOnly = true;
  }
  if (audioOnly) {
    if (!isAudioContainer(format)) format = pref(p.default_audio_format, AUDIO_CONTAINERS) ?? DEFAULT_AUDIO_CONTAINER;
  } else {
    audioOnly = false;
    format ??= pref(p.default_format, VIDEO_CONTAINERS) ?? DEFAULT_VIDEO_CONTAINER;
  }

  const options: DownloadOptions = {
    quality: given.quality ?? pref(p.default_quality, QUALITIES, true) ?? DEFAULT_QUALITY,
    format,
    audio_only: audioOnly,
    video_codec: given.video_codec ?? pref(p.video_codec, VIDEO_CODECS) ?? DEFAULT_VIDEO_CODEC,
  };

  const audioLanguage = given.audio_language ?? (isValidLanguage(p.audio_language) ? p.audio_language : undefined);
  if (audioLanguage) options.audio_language = audioLanguage;

  // An explicit subtitles object (even with no languages) overrides the preference.
  const subtitleLanguages = given.subtitles ? languages(given.subtitles.languages) : languages(p.subtitles ?? []);
  if (subtitleLanguages.length) {
    // Audio files cannot carry subtitle tracks.
    const mode: SubtitleMode = audioOnly ? 'sidecar' : (given.subtitles?.mode ?? 'embed');
    options.subtitles = { languages: subtitleLanguages, mode };
  }

  if (given.filename_template) options.filename_template = given.filename_template;
  return options;
}

// ---------------------------------------------------------------------------
// File names

export type FilenameInfo = Pick<VideoInfo, 'id' | 'title' | 'platform'> &
  Partial<Pick<VideoInfo, 'uploader' | 'upload_date'>> & {
    /** what `{quality}` expands to, e.g. `1080p` */
    quality?: string | null;
  };

const PLACEHOLDER = /\{(title|id|uploader|platform|upload_date|quality)\}/g;
/** C0/C1 controls, bidi overrides/isolates and BOM (the "txt.exe" spoof), and the characters Windows forbids. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff/\\:*?"<>|]/g;
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)$/i;

/** Unsafe characters become spaces, whitespace runs collapse. */
function clean(text: string): string {
  return text.normalize('NFC').replace(UNSAFE, ' ').replace(/\s+/g, ' ');
}

function utf8Length(text: string): number {
  let n = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** The longest prefix of whole graphemes (so no split code point or emoji sequence) that fits in `maxBytes`. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (utf8Length(text) <= maxBytes) return text;
  let out = '';
  let bytes = 0;
  for (const { segment } of graphemes.segment(text)) {
    const size = utf8Length(segment);
    if (bytes + size > maxBytes) break;
    out += segment;
    bytes += size;
  }
  return out;
}

function trimEnds(text: string): string {
  return text.replace(/^[\s.]+/, '').replace(/[\s.]+$/, '');
}

/** Leading/trailing dots and spaces off, Windows device names defused, byte cap applied. */
function finish(text: string): string {
  let name = trimEnds(truncateUtf8(trimEnds(text.replace(/\s+/g, ' ')), MAX_FILENAME_BYTES));
  // `CON`, `nul.tar`: Windows treats the part before the first dot as the device name.
  if (WINDOWS_RESERVED.test(name.split('.')[0]!.trim())) name = `_${name}`;
  return name;
}

/**
 * Expands `{title}`, `{id}`, `{uploader}`, `{platform}`, `{upload_date}` and
 * `{quality}` in `template` (default `{title} [{id}]`) and returns one safe
 * path segment, without extension: no separators or Windows-forbidden
 * characters, no control characters, no leading dots, no trailing dots or
 * spaces, no Windows device name, at most 180 UTF-8 bytes (the title is
 * shortened first so the id survives), never empty (falls back to the id).
 * Unicode (CJK, emoji) is kept.
 */
export function sanitizeFilename(template: string | null | undefined, info: FilenameInfo): string {
  const values: Record<string, string> = {
    title: clean(info.title ?? '').trim() || clean(info.id).trim(),
    id: clean(info.id).trim(),
    uploader: clean(info.uploader ?? '').trim() || 'unknown',
    platform: clean(info.platform).trim(),
    upload_date: clean(info.upload_date ?? '').trim() || 'unknown',
    quality: clean(info.quality ?? '').trim() || 'unknown',
  };
  const tpl = clean(template?.trim() ? template : DEFAULT_FILENAME_TEMPLATE);
  const expand = (title: string) =>
    tpl.replace(PLACEHOLDER, (_m, key: string) => (key === 'title' ? title : values[key]!));

  let name = expand(values.title!);
  const titles = tpl.match(/\{title\}/g)?.length ?? 0;
  if (titles > 0 && utf8Length(trimEnds(name)) > MAX_FILENAME_BYTES) {
    // Shorten the title rather than cut the id or date off the end.
    const rest = utf8Length(trimEnds(expand('')));
    const budget = Math.floor((MAX_FILENAME_BYTES - rest) / titles);
    if (budget > 0) name = expand(truncateUtf8(values.title!, budget).trimEnd());
  }
  return finish(name) || finish(values.id!) || 'video';
}
