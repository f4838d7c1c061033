/**
 * Which codecs each output container takes as they are (stream copy), and the
 * encoder settings used for a stream that does not fit. Pure tables checked
 * against Debian's ffmpeg 5.1: e.g. its mp4 muxer takes Opus but calls FLAC
 * experimental, and its webm muxer takes only VP8/VP9/AV1 + Vorbis/Opus.
 */

export type VideoContainer = 'mp4' | 'webm' | 'mkv';
export type AudioFormat = 'm4a' | 'mp3' | 'opus';

export const VIDEO_CONTAINERS: readonly VideoContainer[] = ['mp4', 'webm', 'mkv'];
export const AUDIO_FORMATS: readonly AudioFormat[] = ['m4a', 'mp3', 'opus'];

/** ffmpeg muxer names */
export const MUXER: Record<VideoContainer | AudioFormat, string> = {
  mp4: 'mp4',
  webm: 'webm',
  mkv: 'matroska',
  m4a: 'ipod', // the mp4 muxer with the M4A brand players expect
  mp3: 'mp3',
  opus: 'opus', // Ogg Opus
};

// null: the container takes any codec ffmpeg can mux (Matroska).
const VIDEO_COPY: Record<VideoContainer, ReadonlySet<string> | null> = {
  mp4: new Set(['h264', 'hevc', 'av1', 'vp9', 'mpeg4']),
  webm: new Set(['vp8', 'vp9', 'av1']),
  mkv: null,
};

// Vorbis "works" in ffmpeg's mp4 muxer but almost nothing plays it, and FLAC needs -strict experimental.
const AUDIO_COPY: Record<VideoContainer, ReadonlySet<string> | null> = {
  mp4: new Set(['aac', 'mp3', 'opus', 'ac3', 'eac3', 'alac']),
  webm: new Set(['opus', 'vorbis']),
  mkv: null,
};

const AUDIO_ONLY_COPY: Record<AudioFormat, ReadonlySet<string>> = {
  m4a: new Set(['aac']),
  mp3: new Set(['mp3']),
  opus: new Set(['opus']),
};

export function videoFits(container: VideoContainer, codec: string | null): boolean {
  const ok = VIDEO_COPY[container];
  return ok === null || (codec !== null && ok.has(codec));
}

export function audioFits(container: VideoContainer, codec: string | null): boolean {
  const ok = AUDIO_COPY[container];
  return ok === null || (codec !== null && ok.has(codec));
}

export function audioOnlyFits(format: AudioFormat, codec: string | null): boolean {
  return codec !== null && AUDIO_ONLY_COPY[format].has(codec);
}

/** Encoder arguments for a video stream that has to be re-encoded (never needed for mkv). */
export const VIDEO_ENCODE: Record<VideoContainer, string[]> = {
  mp4: ['libx264', '-preset', 'veryfast', '-crf', '20', '-pix_fmt', 'yuv420p'],
  webm: [
    'libvpx-vp9',
    '-crf',
    '32',
    '-b:v',
    '0',
    '-deadline',
    'good',
    '-cpu-used',
    '5',
    '-row-mt',
    '1',
    '-pix_fmt',
    'yuv420p',
  ],
  mkv: ['libx264', '-preset', 'veryfast', '-crf', '20', '-pix_fmt', 'yuv420p'],
};

/** Encoder arguments for an audio stream that has to be re-encoded. */
export const AUDIO_ENCODE: Record<VideoContainer | AudioFormat, string[]> = {
  mp4: ['aac', '-b:a', '192k'],
  m4a: ['aac', '-b:a', '192k'],
  webm: ['libopus', '-b:a', '128k'],
  opus: ['libopus', '-b:a', '128k'],
  mkv: ['libopus', '-b:a', '128k'],
  mp3: ['libmp3lame', '-q:a', '2'], // VBR, ~190 kbit/s
};

/** Subtitle codec to store text subtitles as: the one each container defines. */
export function subtitleCodec(container: VideoContainer, file: string): string {
  if (container === 'mp4') return 'mov_text';
  if (container === 'webm') return 'webvtt';
  return /\.(ass|ssa)$/i.test(file) ? 'ass' : 'srt';
}

// ISO 639-1 → ISO 639-2/T for the languages subtitles most often come in: MP4 only stores 3-letter codes.
const ISO639_2: Record<string, string> = {
  ar: 'ara',
  bg: 'bul',
  bn: 'ben',
  ca: 'cat',
  cs: 'ces',
  da: 'dan',
  de: 'deu',
  el: 'ell',
  en: 'eng',
  es: 'spa',
  et: 'est',
  fa: 'fas',
  fi: 'fin',
  fr: 'fra',
  he: 'heb',
  hi: 'hin',
  hr: 'hrv',
  hu: 'hun',
  id: 'ind',
  it: 'ita',
  ja: 'jpn',
  ko: 'kor',
  lt: 'lit',
  lv: 'lav',
  ms: 'msa',
  nl: 'nld',
  no: 'nor',
  nb: 'nob',
  pl: 'pol',
  pt: 'por',
  ro: 'ron',
  ru: 'rus',
  sk: 'slk',
  sl: 'slv',
  sr: 'srp',
  sv: 'swe',
  ta: 'tam',
  th: 'tha',
  tr: 'tur',
  uk: 'ukr',
  ur: 'urd',
  vi: 'vie',
  zh: 'zho',
};

/**
 * A subtitle language tag as the container can store it, or null to leave it
 * out: BCP 47 tags as they are for Matroska/WebM, a 3-letter code for MP4.
 */
export function languageTag(container: VideoContainer, lang: string): string | null {
  if (!/^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$/.test(lang)) return null;
  if (container !== 'mp4') return lang;
  const primary = lang.split('-')[0]!.toLowerCase();
  return primary.length === 3 ? primary : (ISO639_2[primary] ?? null);
}
