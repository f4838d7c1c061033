/**
 * Which of an extraction's formats a download uses. One pure function,
 * selectFormats(formats, options), whose `reason` lines are stored with the
 * task (`selected_formats`) so a user can see why a file came out as it did.
 *
 * Video: the tallest picture at or below the requested quality (the smallest
 * above it when nothing fits; the lowest for `worst`), then the requested
 * codec, then what the container takes as is, then frame rate, then bitrate.
 * Audio: the requested language (exact, then `en` ~ `en-US`, then the same
 * primary language), else the original/default track, then the container's
 * codecs, then bitrate. A muxed format (HLS variants included) wins when it is
 * at least as good as the best separate video, or when there is nothing to
 * pair.
 */
import { AppError } from '../errors/app-error.js';
import type { Format } from '../extract/model.js';
import {
  isAudioContainer,
  type AudioContainer,
  type Container,
  type DownloadOptions,
  type VideoCodecPreference,
} from './options.js';

interface SelectionBase {
  /** the output container (normally options.format) */
  container: Container;
  /** separate video and audio streams must be muxed together */
  needs_merge: boolean;
  /** at least one stream cannot be copied into `container` as is */
  needs_transcode: boolean;
  /** short sentences explaining the choice */
  reason: string[];
}

/**
 * Exactly one of: a muxed format (for audio_only downloads, the audio is
 * extracted from it), or a video and/or an audio format.
 */
export type Selection = SelectionBase &
  (
    | { muxed: Format; video: null; audio: null }
    | { muxed: null; video: Format; audio: Format | null }
    | { muxed: null; video: null; audio: Format }
  );

// ---------------------------------------------------------------------------
// Codecs

export type VideoFamily = 'h264' | 'hevc' | 'vp9' | 'av1' | 'vp8' | 'mpeg4' | 'other' | 'unknown';
export type AudioFamily = 'aac' | 'opus' | 'vorbis' | 'mp3' | 'ac3' | 'eac3' | 'flac' | 'alac' | 'other' | 'unknown';

const VIDEO_FAMILIES: Array<[RegExp, VideoFamily]> = [
  [/^(avc[1-4]?|h\.?264|x264)\b/, 'h264'],
  [/^(hvc1|hev1|h\.?265|hevc|x265|dvh1|dvhe)\b/, 'hevc'],
  [/^vp0?9\b/, 'vp9'],
  [/^(av01|av1)\b/, 'av1'],
  [/^vp0?8\b/, 'vp8'],
  [/^mp4v\b/, 'mpeg4'],
];

const AUDIO_FAMILIES: Array<[RegExp, AudioFamily]> = [
  // MP3 in MP4 is mp4a.6B / mp4a.69 / mp4a.40.34; every other mp4a is AAC.
  [/^(mp3|mp4a\.(6b|69|40\.34)$)/, 'mp3'],
  [/^(mp4a|aac)\b/, 'aac'],
  [/^opus\b/, 'opus'],
  [/^vorbis\b/, 'vorbis'],
  [/^(ec-3|eac3|e-ac-3)\b/, 'eac3'],
  [/^(ac-3|ac3)\b/, 'ac3'],
  [/^flac\b/, 'flac'],
  [/^alac\b/, 'alac'],
];

function family<T extends string>(
  codec: string | null | undefined,
  table: Array<[RegExp, T]>,
  other: T,
): T | 'unknown' {
  const c = codec?.trim().toLowerCase();
  if (!c || c === 'none') return 'unknown';
  return table.find(([re]) => re.test(c))?.[1] ?? other;
}

export const videoFamily = (codec: string | null | undefined): VideoFamily => family(codec, VIDEO_FAMILIES, 'other');
export const audioFamily = (codec: string | null | undefined): AudioFamily => family(codec, AUDIO_FAMILIES, 'other');

const CODEC_FAMILY: Record<Exclude<VideoCodecPreference, 'any'>, VideoFamily> = {
  h264: 'h264',
  vp9: 'vp9',
  av1: 'av1',
};

/** 2 = what the container is made for, 1 = can be copied in, 0 = must be re-encoded. */
type Tier = 0 | 1 | 2;
interface Fit<T> {
  preferred: readonly T[];
  copy: readonly T[];
}
const VIDEO_FIT: Record<'mp4' | 'webm', Fit<VideoFamily>> = {
  mp4: { preferred: ['h264', 'hevc', 'av1'], copy: ['vp9', 'mpeg4'] },
  webm: { preferred: ['vp9', 'av1'], copy: ['vp8'] },
};
const AUDIO_FIT: Record<Exclude<Container, 'mkv'>, Fit<AudioFamily>> = {
  mp4: { preferred: ['aac'], copy: ['mp3', 'ac3', 'eac3', 'opus', 'alac'] },
  webm: { preferred: ['opus'], copy: ['vorbis'] },
  m4a: { preferred: ['aac'], copy: ['alac', 'ac3', 'eac3'] },
  mp3: { preferred: ['mp3'], copy: [] },
  opus: { preferred: ['opus'], copy: [] },
};
/** Source file extensions a container can take without knowing the codecs. */
const EXT_FIT: Record<Container, readonly string[]> = {
  mp4: ['mp4', 'm4a', 'm4v'],
  m4a: ['mp4', 'm4a'],
  webm: ['webm'],
  mkv: [],
  mp3: ['mp3'],
  opus: ['opus', 'ogg'],
};

function tier<T extends string>(fam: T | 'unknown', fit: Fit<T> | undefined, ext: string, container: Container): Tier {
  if (!fit) return 2; // mkv takes anything
  if (fam === 'unknown') return EXT_FIT[container].includes(ext.toLowerCase()) ? 1 : 0;
  return fit.preferred.includes(fam) ? 2 : fit.copy.includes(fam) ? 1 : 0;
}

function videoTier(f: Format, container: Container): Tier {
  if (isAudioContainer(container)) return 0;
  const fit = container === 'mkv' ? undefined : VIDEO_FIT[container];
  return tier(videoFamily(f.vcodec), fit, f.ext, container);
}

function audioTier(f: Format, container: Container): Tier {
  const fit = container === 'mkv' ? undefined : AUDIO_FIT[container];
  return tier(audioFamily(f.acodec), fit, f.ext, container);
}

/** The container an audio stream goes to when a video was asked for but only audio exists. */
function audioContainerFor(f: Format): AudioContainer {
  const fam = audioFamily(f.acodec);
  return fam === 'opus' ? 'opus' : fam === 'mp3' ? 'mp3' : 'm4a';
}

// ---------------------------------------------------------------------------
// Ranking

/** 1.07: DCI 4K (4096×2160, a 2304-line 16:9 frame) still counts as 2160p. */
const HEIGHT_TOLERANCE = 1.07;

/**
 * The "p" number of a picture: the height of the 16:9 frame it fills, so a
 * 1920×800 film is 1080p and a 1080×1920 phone video is 1080p too.
 */
export function nominalHeight(f: Pick<Format, 'width' | 'height'>): number | null {
  const { width: w, height: h } = f;
  if (!h) return null;
  if (!w) return h;
  return Math.round(Math.max(Math.min(w, h), (Math.max(w, h) * 9) / 16));
}

/** 24/25/30 fps → 1, 48/50/60 (and BiliBili's 58.8 or 62.5) → 2. */
const fpsClass = (fps: number | null) => (fps && fps > 0 ? Math.round(fps / 30) : 0);
const protocolRank = (f: Format) => (f.protocol === 'hls' ? 0 : 1);
const isWatermarked = (f: Format) => /watermark/i.test(f.note ?? '');
const isDrc = (f: Format) => /(^|[\s,-])drc\b/i.test(`${f.format_id} ${f.note ?? ''}`);
const isOriginalTrack = (f: Format) => /\b(original|default)\b/i.test(f.note ?? '');
export const isPreviewFormat = (f: Format) => f.note?.trim().toLowerCase() === 'preview';

interface Ctx {
  maxHeight: number | null;
  worst: boolean;
  codec: VideoCodecPreference;
  container: Container;
  language: string | null;
}

type Key = number[];

function compareKeys(a: Key, b: Key, length = Math.max(a.length, b.length)): number {
  for (let i = 0; i < length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y ? 1 : -1; // not x - y: two -Infinity bitrates are equal
  }
  return 0;
}

/** The highest key; the earlier format on a tie. */
function pick(list: Format[], key: (f: Format) => Key): Format | null {
  let best: Format | null = null;
  let bestKey: Key = [];
  for (const f of list) {
    const k = key(f);
    if (!best || compareKeys(k, bestKey) > 0) [best, bestKey] = [f, k];
  }
  return best;
}

const bitrateKey = (f: Format, worst: boolean) => (worst ? -(f.bitrate ?? Infinity) : (f.bitrate ?? 0));

/** Height group: 2 = fits the request, 1 = above it (smaller is better), 0 = unknown. */
function heightKey(f: Format, ctx: Ctx): [number, number] {
  const h = nominalHeight(f);
  if (h === null) return [0, 0];
  if (ctx.maxHeight === null || h <= ctx.maxHeight * HEIGHT_TOLERANCE) return [2, ctx.worst ? -h : h];
  return [1, -h];
}

/** Ranks video and muxed formats. The last element (bitrate) is left out when muxed is compared with separate. */
function videoKey(f: Format, ctx: Ctx): Key {
  const [group, size] = heightKey(f, ctx);
  const wanted = ctx.codec === 'any' ? null : CODEC_FAMILY[ctx.codec];
  const codec = wanted && videoFamily(f.vcodec) === wanted ? 1 : 0;
  const fit =
    f.kind === 'muxed'
      ? Math.min(videoTier(f, ctx.container), audioTier(f, ctx.container))
      : videoTier(f, ctx.container);
  const fps = fpsClass(f.fps) * (ctx.worst ? -1 : 1);
  return [group, isWatermarked(f) ? 0 : 1, size, codec, fit, fps, protocolRank(f), bitrateKey(f, ctx.worst)];
}

function normLang(lang: string): string {
  return lang.trim().toLowerCase().replace(/_/g, '-');
}

/** 5 exact, 4 `en` ~ `en-US`, 3 same primary language, 2 original/default track, 1 unlabeled, 0 another language. */
function languageScore(f: Format, wanted: string | null): number {
  const lang = f.language ? normLang(f.language) : null;
  if (wanted && lang) {
    if (lang === wanted) return 5;
    if (lang.startsWith(`${wanted}-`) || wanted.startsWith(`${lang}-`)) return 4;
    if (lang.split('-')[0] === wanted.split('-')[0]) return 3;
  }
  if (isOriginalTrack(f)) return 2;
  return lang ? 0 : 1;
}

function audioKey(f: Format, ctx: Ctx): Key {
  return [
    languageScore(f, ctx.language),
    audioTier(f, ctx.container),
    isDrc(f) ? 0 : 1,
    protocolRank(f),
    bitrateKey(f, ctx.worst),
  ];
}

/** For extracting audio from a muxed format: its audio first, then the whole file's bitrate. */
function muxedAudioKey(f: Format, ctx: Ctx): Key {
  return [
    languageScore(f, ctx.language),
    audioTier(f, ctx.container),
    isWatermarked(f) ? 0 : 1,
    protocolRank(f),
    bitrateKey(f, ctx.worst),
  ];
}

// ---------------------------------------------------------------------------
// Descriptions for `reason`

function kbps(bitrate: number | null): string | null {
  return bitrate ? `${Math.round(bitrate / 1000)} kbps` : null;
}

function describeVideo(f: Format): string {
  const size = f.width && f.height ? `${f.width}x${f.height}` : f.height ? `${f.height}p` : null;
  const fps = f.fps ? `${Number(f.fps.toFixed(2))} fps` : null;
  const audio = f.kind === 'muxed' ? f.acodec : null;
  const parts = [size, f.vcodec, fps, audio, kbps(f.bitrate), f.protocol === 'hls' ? 'HLS' : null];
  const text = parts.filter(Boolean).join(', ') || f.note || 'unknown';
  return `${f.format_id} (${text})`;
}

function describeAudio(f: Format): string {
  const parts = [
    f.acodec,
    kbps(f.bitrate),
    f.language,
    isOriginalTrack(f) ? 'original' : null,
    isDrc(f) ? 'DRC' : null,
  ];
  return `${f.format_id} (${parts.filter(Boolean).join(', ') || f.note || 'unknown'})`;
}

const heightLabel = (f: Format) => {
  const h = nominalHeight(f);
  return h === null ? 'unknown resolution' : `${h}p`;
};

function videoReasons(f: Format, ctx: Ctx, role: string): string[] {
  const out: string[] = [];
  const [group] = heightKey(f, ctx);
  if (group === 0) {
    out.push(`No format states its resolution; using ${role} ${describeVideo(f)}.`);
  } else if (group === 1) {
    out.push(`Nothing at or below ${ctx.maxHeight}p; using the smallest above it: ${role} ${describeVideo(f)}.`);
  } else {
    const what = ctx.worst
      ? `Lowest quality ${role}`
      : ctx.maxHeight === null
        ? `Highest quality ${role}`
        : `Best ${role} at or below ${ctx.maxHeight}p:`;
    out.push(`${what} ${describeVideo(f)}.`);
  }
  if (ctx.codec !== 'any' && videoFamily(f.vcodec) !== CODEC_FAMILY[ctx.codec]) {
    const fam = videoFamily(f.vcodec);
    out.push(`No ${ctx.codec} stream at ${heightLabel(f)}; using ${fam === 'unknown' ? 'an unnamed codec' : fam}.`);
  }
  if (isWatermarked(f)) out.push(`${f.format_id} may be watermarked; nothing else was available at that quality.`);
  return out;
}

function audioReasons(f: Format, ctx: Ctx, list: Format[]): string[] {
  const out = [`Audio ${describeAudio(f)}.`];
  if (ctx.language) {
    const score = languageScore(f, ctx.language);
    if (score === 4 || score === 3) out.push(`No exact "${ctx.language}" audio track; using ${f.language}.`);
    else if (score < 3) {
      const which = isOriginalTrack(f) ? `the original track${f.language ? ` (${f.language})` : ''}` : 'the best track';
      out.push(`No "${ctx.language}" audio track; using ${which}.`);
    }
  } else if (list.some((a) => a.language && normLang(a.language) !== normLang(f.language ?? ''))) {
    if (isOriginalTrack(f))
      out.push(`Several audio languages; using the original track (${f.language ?? 'unlabeled'}).`);
  }
  return out;
}

function transcodeReasons(streams: Array<[Format, 'video' | 'audio']>, container: Container): string[] {
  const out: string[] = [];
  for (const [f, what] of streams) {
    const t = what === 'video' ? videoTier(f, container) : audioTier(f, container);
    const codec = (what === 'video' ? f.vcodec : f.acodec) ?? 'unknown codec';
    if (t === 0)
      out.push(
        `${what === 'video' ? 'Video' : 'Audio'} ${codec} cannot go into ${container} as is; it will be re-encoded.`,
      );
  }
  return out;
}

// ---------------------------------------------------------------------------

function notFound(message: string, formats: Format[], options: DownloadOptions, pool: Format[]): AppError {
  const count = (kind: Format['kind']) => pool.filter((f) => f.kind === kind).length;
  return new AppError('not_found', message, {
    requested: {
      quality: options.quality,
      format: options.format,
      audio_only: options.audio_only,
      video_codec: options.video_codec,
      ...(options.audio_language ? { audio_language: options.audio_language } : {}),
    },
    available: {
      total: formats.length,
      video: count('video'),
      audio: count('audio'),
      muxed: count('muxed'),
      preview: formats.filter(isPreviewFormat).length,
    },
  });
}

/**
 * Picks the formats to download for `options`. Throws AppError('not_found')
 * when the list holds nothing usable (empty, no URLs, or an audio-only
 * request for a list without any audio).
 */
export function selectFormats(formats: Format[], options: DownloadOptions): Selection {
  const reason: string[] = [];
  const usable = formats.filter((f) => typeof f.url === 'string' && f.url !== '');
  const full = usable.filter((f) => !isPreviewFormat(f));
  let pool = full;
  if (!full.length && usable.length) {
    pool = usable;
    reason.push('Only a preview (trial cut) is available; downloading it.');
  } else if (full.length < usable.length) {
    const n = usable.length - full.length;
    reason.push(`Skipped ${n} preview format${n === 1 ? '' : 's'}.`);
  }
  if (!pool.length) throw notFound('No downloadable format was found', formats, options, pool);

  const audioOnly = options.audio_only || isAudioContainer(options.format);
  let container: Container = options.format;
  if (audioOnly && !isAudioContainer(container)) {
    reason.push(`${container} is a video container; audio goes to m4a.`);
    container = 'm4a';
  }
  const ctx: Ctx = {
    maxHeight: /^\d+$/.test(options.quality) ? Number(options.quality) : null,
    worst: options.quality === 'worst',
    codec: options.video_codec,
    container,
    language: options.audio_language ? normLang(options.audio_language) : null,
  };
  const videos = pool.filter((f) => f.kind === 'video');
  const audios = pool.filter((f) => f.kind === 'audio');
  const muxeds = pool.filter((f) => f.kind === 'muxed');

  if (audioOnly) {
    const audio = pick(audios, (f) => audioKey(f, ctx));
    if (audio) {
      reason.push(...audioReasons(audio, ctx, audios), ...transcodeReasons([[audio, 'audio']], container));
      return {
        muxed: null,
        video: null,
        audio,
        container,
        needs_merge: false,
        needs_transcode: audioTier(audio, container) === 0,
        reason,
      };
    }
    const muxed = pick(muxeds, (f) => muxedAudioKey(f, ctx));
    if (!muxed) throw notFound('No format carries audio', formats, options, pool);
    reason.push(`No audio-only format; the audio will be extracted from ${describeVideo(muxed)}.`);
    reason.push(...transcodeReasons([[muxed, 'audio']], container));
    return {
      muxed,
      video: null,
      audio: null,
      container,
      needs_merge: false,
      needs_transcode: audioTier(muxed, container) === 0,
      reason,
    };
  }

  const video = pick(videos, (f) => videoKey(f, ctx));
  const muxed = pick(muxeds, (f) => videoKey(f, ctx));
  const audio = video ? pick(audios, (f) => audioKey(f, ctx)) : null;

  let languageSplit: string | null = null;
  if (video && audio && muxed && isAsGood(muxed, video, ctx)) {
    // A muxed file carries the default (original) audio: not what was asked for when a matching separate track exists.
    const wantsOtherLanguage =
      ctx.language !== null &&
      languageScore(audio, ctx.language) >= 3 &&
      languageScore(muxed, ctx.language) < 3 &&
      !isOriginalTrack(audio);
    if (!wantsOtherLanguage) {
      reason.push(...videoReasons(muxed, ctx, 'muxed'));
      reason.push(
        `Muxed ${muxed.format_id} is as good as the best separate video (${video.format_id}); no merge needed.`,
      );
      return muxedResult(muxed, container, reason);
    }
    languageSplit = `Muxed ${muxed.format_id} lacks the "${ctx.language}" audio track; using separate streams.`;
  }

  if (video && audio) {
    reason.push(...videoReasons(video, ctx, 'video'), ...audioReasons(audio, ctx, audios));
    if (languageSplit) reason.push(languageSplit);
    reason.push(`Video and audio are separate; they will be merged into ${container}.`);
    const transcode = transcodeReasons(
      [
        [video, 'video'],
        [audio, 'audio'],
      ],
      container,
    );
    reason.push(...transcode);
    return { muxed: null, video, audio, container, needs_merge: true, needs_transcode: transcode.length > 0, reason };
  }

  if (muxed) {
    reason.push(...videoReasons(muxed, ctx, 'muxed'));
    if (video) reason.push(`No separate audio stream; muxed ${muxed.format_id} keeps the sound.`);
    else if (audios.length) reason.push('No video-only formats; using a muxed one.');
    return muxedResult(muxed, container, reason);
  }

  if (video) {
    reason.push(...videoReasons(video, ctx, 'video'), 'No audio stream is available; the file will have no sound.');
    const transcode = transcodeReasons([[video, 'video']], container);
    reason.push(...transcode);
    return {
      muxed: null,
      video,
      audio: null,
      container,
      needs_merge: false,
      needs_transcode: transcode.length > 0,
      reason,
    };
  }

  // Only audio (a TikTok photo post's music, for example).
  const only = pick(audios, (f) => audioKey(f, { ...ctx, container: 'mkv' }));
  if (!only) throw notFound('No format carries video or audio', formats, options, pool);
  const audioContainer = audioContainerFor(only);
  reason.push(`No video stream exists; downloading the audio only, as ${audioContainer}.`);
  reason.push(...audioReasons(only, ctx, audios));
  const transcode = transcodeReasons([[only, 'audio']], audioContainer);
  reason.push(...transcode);
  return {
    muxed: null,
    video: null,
    audio: only,
    container: audioContainer,
    needs_merge: false,
    needs_transcode: transcode.length > 0,
    reason,
  };
}

/** Muxed is as good as separate when it ties or wins on everything but bitrate (a muxed bitrate includes its audio). */
function isAsGood(muxed: Format, video: Format, ctx: Ctx): boolean {
  const m = videoKey(muxed, ctx);
  return compareKeys(m, videoKey(video, ctx), m.length - 1) >= 0;
}

function muxedResult(muxed: Format, container: Container, reason: string[]): Selection {
  const transcode = transcodeReasons(
    [
      [muxed, 'video'],
      [muxed, 'audio'],
    ],
    container,
  );
  reason.push(...transcode);
  return {
    muxed,
    video: null,
    audio: null,
    container,
    needs_merge: false,
    needs_transcode: transcode.length > 0,
    reason,
  };
}
