/** Download options as the home page offers them, derived from the formats a video has. */
import type { Format } from '../api/types';

export const QUALITIES = ['best', '2160', '1440', '1080', '720', '480', '360', '240', '144', 'worst'] as const;
export type Quality = (typeof QUALITIES)[number];
export const VIDEO_CONTAINERS = ['mp4', 'webm', 'mkv'] as const;
export const AUDIO_CONTAINERS = ['m4a', 'mp3', 'opus'] as const;
export type VideoContainer = (typeof VIDEO_CONTAINERS)[number];
export type AudioContainer = (typeof AUDIO_CONTAINERS)[number];
export const CODECS = ['any', 'h264', 'vp9', 'av1'] as const;
export type Codec = (typeof CODECS)[number];

export interface Choice {
  audioOnly: boolean;
  quality: Quality;
  videoContainer: VideoContainer;
  audioContainer: AudioContainer;
  codec: Codec;
  audioLanguage: string;
}

export const DEFAULT_CHOICE: Choice = {
  audioOnly: false,
  quality: 'best',
  videoContainer: 'mp4',
  audioContainer: 'm4a',
  codec: 'any',
  audioLanguage: '',
};

/** The request body's `options`; an empty language means "the server's default". */
export function toOptions(c: Choice) {
  return {
    quality: c.quality,
    format: c.audioOnly ? c.audioContainer : c.videoContainer,
    audio_only: c.audioOnly,
    ...(c.audioOnly ? {} : { video_codec: c.codec }),
    ...(c.audioLanguage ? { audio_language: c.audioLanguage } : {}),
  };
}

export function codecFamily(vcodec: string | null): Exclude<Codec, 'any'> | null {
  if (!vcodec) return null;
  const v = vcodec.toLowerCase();
  if (v.startsWith('avc') || v.startsWith('h264')) return 'h264';
  if (v.startsWith('vp9') || v.startsWith('vp09')) return 'vp9';
  if (v.startsWith('av01') || v.startsWith('av1')) return 'av1';
  return null;
}

/** A height snapped down to the qualities the API accepts (1088 → 1080, 270 → 240). */
export function qualityOf(height: number): Quality | null {
  for (const q of QUALITIES) {
    if (q === 'best' || q === 'worst') continue;
    if (height >= Number(q)) return q;
  }
  return null;
}

export function offeredQualities(formats: Format[]): Quality[] {
  const set = new Set<Quality>();
  for (const f of formats) if (f.kind !== 'audio' && f.height) set.add(qualityOf(f.height) ?? '144');
  return ['best', ...QUALITIES.filter((q) => set.has(q))];
}

export function offeredCodecs(formats: Format[]): Codec[] {
  const set = new Set(formats.map((f) => (f.kind !== 'audio' ? codecFamily(f.vcodec) : null)).filter(Boolean));
  return CODECS.filter((c) => c === 'any' || set.has(c));
}

export function audioLanguages(formats: Format[]): string[] {
  const langs = new Set<string>();
  for (const f of formats) if (f.kind !== 'video' && f.language) langs.add(f.language);
  return [...langs].sort();
}

/** The largest known size of a format at this quality, for the quality menu. */
export function sizeAt(formats: Format[], q: Quality): number | null {
  let best: number | null = null;
  for (const f of formats) {
    if (f.kind === 'audio' || !f.height || !f.filesize) continue;
    if (q !== 'best' && qualityOf(f.height) !== q) continue;
    best = Math.max(best ?? 0, f.filesize);
  }
  return best;
}
