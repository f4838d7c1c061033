/**
 * Subtitles for a download: which of the VideoInfo's tracks answer the
 * requested languages, fetching them through the one outbound client (upstream
 * rewrite and SSRF guard as for the media), BiliBili's JSON turned into
 * WebVTT, and every file rewritten by ffmpeg, which also proves it parses,
 * before it is embedded or stored next to the media as a sidecar.
 *
 * Subtitles are extras: a language that is not offered, cannot be fetched or
 * does not parse is reported as missing and the download goes on.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { AppError } from '../errors/app-error.js';
import type { Subtitle } from '../extract/model.js';
import type { HttpClient } from '../infra/http-client/http-client.js';
import { convertSubtitle, type SubtitleFormat } from '../media/ffmpeg.js';
import type { SubtitleMode } from './options.js';

/** A subtitle file larger than this is not a subtitle file. */
export const MAX_SUBTITLE_BYTES = 5 * 1024 * 1024;
export const SUBTITLE_FETCH_TIMEOUT_MS = 30_000;
const MAX_BCC_CUES = 50_000;

export const SUBTITLE_CONTENT_TYPES: Record<'vtt' | 'srt', string> = {
  vtt: 'text/vtt; charset=utf-8',
  srt: 'application/x-subrip; charset=utf-8',
};

/** What upstream offers, by how well it converts: BiliBili's `json` (BCC) last. */
type SourceFormat = SubtitleFormat | 'bcc';
const SOURCE_FORMATS: Record<string, SourceFormat> = {
  vtt: 'vtt',
  webvtt: 'vtt',
  srt: 'srt',
  ass: 'ass',
  ssa: 'ass',
  json: 'bcc',
};
const SOURCE_RANK: Record<SourceFormat, number> = { vtt: 0, srt: 1, ass: 2, bcc: 3 };

export interface SubtitleChoice {
  /** the language as requested (also the sidecar's name and the embedded tag) */
  language: string;
  /** the key of info.subtitles it was found under, e.g. `en-US`, `ai-zh` */
  track: string;
  subtitle: Subtitle;
  source: SourceFormat;
}

const norm = (lang: string): string => lang.toLowerCase().replace(/_/g, '-');
/** `en-US` → `en`; BiliBili's machine tracks `ai-zh` → `zh` */
const primary = (lang: string): string => norm(lang).replace(/^ai-/, '').split('-')[0]!;

/** The track's best usable file: hand-made before automatic, then the easiest format to convert. */
function bestFile(list: readonly Subtitle[]): { subtitle: Subtitle; source: SourceFormat } | null {
  let best: { subtitle: Subtitle; source: SourceFormat; score: number } | null = null;
  for (const subtitle of list) {
    const source = SOURCE_FORMATS[subtitle.ext.toLowerCase()];
    if (!source) continue;
    const score = (subtitle.auto ? 10 : 0) + SOURCE_RANK[source];
    if (!best || score < best.score) best = { subtitle, source, score };
  }
  return best && { subtitle: best.subtitle, source: best.source };
}

/**
 * For each requested language, the track that answers it: the same tag
 * (case and `_`/`-` aside), else a regional or machine variant (`en` → `en-US`,
 * `zh` → `ai-zh`), else the bare language of a regional request (`pt-BR` → `pt`);
 * hand-made tracks before automatic ones. Tracks in formats we cannot read
 * (TTML, srv3, …) do not count.
 */
export function chooseSubtitles(
  available: Record<string, Subtitle[]> | undefined,
  languages: readonly string[],
): { chosen: SubtitleChoice[]; missing: string[] } {
  const tracks = Object.entries(available ?? {}).flatMap(([track, list]) => {
    const file = Array.isArray(list) ? bestFile(list) : null;
    return file ? [{ track, ...file }] : [];
  });
  const chosen: SubtitleChoice[] = [];
  const missing: string[] = [];
  const seen = new Set<string>();
  for (const language of languages) {
    const want = norm(language);
    if (seen.has(want)) continue;
    seen.add(want);
    const candidates = [
      tracks.filter((t) => norm(t.track) === want),
      tracks.filter((t) => primary(t.track) === want),
      want.includes('-') ? tracks.filter((t) => norm(t.track) === primary(want)) : [],
    ];
    const pick = candidates
      .map((list) => [...list].sort((a, b) => Number(a.subtitle.auto ?? false) - Number(b.subtitle.auto ?? false))[0])
      .find((t) => t !== undefined);
    if (pick) chosen.push({ language, track: pick.track, subtitle: pick.subtitle, source: pick.source });
    else missing.push(language);
  }
  return { chosen, missing };
}

// ---------------------------------------------------------------------------
// BiliBili's subtitle JSON ("BCC"): {"body":[{"from":1.2,"to":3.4,"content":"…"}]}

function vttTime(seconds: number): string {
  const ms = Math.round(seconds * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor(ms / 60_000) % 60;
  const s = Math.floor(ms / 1000) % 60;
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`;
}

/** WebVTT for a BCC document, or null when it is not one. Cue text is escaped: it is data, not markup. */
export function bccToVtt(doc: unknown): string | null {
  const body = (doc as { body?: unknown } | null)?.body;
  if (!Array.isArray(body)) return null;
  const cues: string[] = [];
  for (const cue of body.slice(0, MAX_BCC_CUES)) {
    const { from, to, content } = (cue ?? {}) as { from?: unknown; to?: unknown; content?: unknown };
    if (typeof from !== 'number' || typeof to !== 'number' || typeof content !== 'string') continue;
    if (!Number.isFinite(from) || !Number.isFinite(to) || from < 0 || to <= from) continue;
    const text = content
      .replace(/\r\n?/g, '\n')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .join('\n');
    if (text) cues.push(`${vttTime(from)} --> ${vttTime(to)}\n${text}`);
  }
  return cues.length ? `WEBVTT\n\n${cues.join('\n\n')}\n` : null;
}

// ---------------------------------------------------------------------------
// Fetching

export interface FetchSubtitleOptions {
  /** SSRF guard on every hop (URLs from user-supplied pages) */
  guard: boolean;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** The file's bytes, at most MAX_SUBTITLE_BYTES; a non-2xx answer or a larger file is upstream_error. */
export async function fetchSubtitle(http: HttpClient, url: string, opts: FetchSubtitleOptions): Promise<Buffer> {
  const res = await http.request(url, {
    guard: opts.guard,
    timeoutMs: SUBTITLE_FETCH_TIMEOUT_MS,
    ...(opts.headers ? { headers: opts.headers } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw new AppError('upstream_error', `The subtitle URL answered HTTP ${res.status}`, { status: res.status });
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > MAX_SUBTITLE_BYTES) {
    await res.body?.cancel().catch(() => undefined);
    throw new AppError('upstream_error', 'The subtitle file is too large', { limit: MAX_SUBTITLE_BYTES });
  }
  const parts: Uint8Array[] = [];
  let size = 0;
  const reader = res.body?.getReader();
  try {
    for (;;) {
      const next = await reader?.read();
      if (!next || next.done) break;
      size += next.value.byteLength;
      if (size > MAX_SUBTITLE_BYTES) {
        throw new AppError('upstream_error', 'The subtitle file is too large', { limit: MAX_SUBTITLE_BYTES });
      }
      parts.push(next.value);
    }
  } finally {
    reader?.cancel().catch(() => undefined);
  }
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------
// Preparing the files a download needs

export interface PreparedSubtitle {
  language: string;
  track: string;
  /** a normalized file in the work directory */
  path: string;
  format: SubtitleFormat;
}

export interface PrepareSubtitlesOptions {
  http: HttpClient;
  ffmpegPath: string;
  log: Logger;
  subtitles: Record<string, Subtitle[]> | undefined;
  languages: readonly string[];
  mode: SubtitleMode;
  /** where the files go (the task's work directory) */
  dir: string;
  guard: boolean;
  /** Referer / User-Agent of the media, which some subtitle hosts check too */
  headers?: Record<string, string>;
  signal: AbortSignal;
}

export interface PreparedSubtitles {
  ready: PreparedSubtitle[];
  missing: string[];
}

/**
 * The format a track is kept in: embedded as it is (mkv keeps ASS styling; mp4
 * and webm convert anything on the way in), as a sidecar WebVTT unless it is
 * SRT already (ASS styling has nowhere to go in either, and browsers play VTT).
 */
function targetFormat(source: SourceFormat, mode: SubtitleMode): SubtitleFormat {
  if (source === 'bcc') return 'vtt';
  if (mode === 'embed') return source;
  return source === 'srt' ? 'srt' : 'vtt';
}

/** Fetches and normalizes the requested languages, one at a time (they are small); never fails for a language. */
export async function prepareSubtitles(o: PrepareSubtitlesOptions): Promise<PreparedSubtitles> {
  const { chosen, missing } = chooseSubtitles(o.subtitles, o.languages);
  const ready: PreparedSubtitle[] = [];
  const subDir = path.join(o.dir, 'subtitles');
  if (chosen.length) await mkdir(subDir, { recursive: true });
  for (const [i, c] of chosen.entries()) {
    try {
      const raw = await fetchSubtitle(o.http, c.subtitle.url, {
        guard: o.guard,
        signal: o.signal,
        ...(o.headers ? { headers: o.headers } : {}),
      });
      const input = path.join(subDir, `${i}.source.${c.source === 'bcc' ? 'vtt' : c.source}`);
      if (c.source === 'bcc') {
        const vtt = bccToVtt(parseJson(raw));
        if (!vtt) throw new AppError('upstream_error', 'The subtitle JSON has no cues');
        await writeFile(input, vtt);
      } else {
        await writeFile(input, raw);
      }
      const format = targetFormat(c.source, o.mode);
      const output = path.join(subDir, `${i}.${format}`);
      await convertSubtitle({ input, output, format, signal: o.signal, ffmpegPath: o.ffmpegPath });
      ready.push({ language: c.language, track: c.track, path: output, format });
    } catch (err) {
      if (o.signal.aborted) throw err;
      o.log.warn({ err, language: c.language, track: c.track }, 'subtitles unavailable');
      missing.push(c.language);
    }
  }
  // Report in the order they were asked for.
  const order = new Map(o.languages.map((l, i) => [l, i]));
  missing.sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
  return { ready, missing };
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------
// What the task records (in selected_formats.subtitles) and where sidecars live

export interface SidecarFile {
  language: string;
  format: 'vtt' | 'srt';
  size: number;
}

export interface SubtitleRecord {
  mode: SubtitleMode;
  requested: string[];
  /** languages embedded in the media file */
  embedded: string[];
  /** sidecar files next to the media file */
  files: SidecarFile[];
  /** requested languages the video does not offer (or that could not be fetched or read) */
  missing: string[];
}

/** `downloads/u/2024/05/abc.1234abcd.mp4` + `en` + `vtt` → `downloads/u/2024/05/abc.1234abcd.en.vtt` */
export function sidecarKey(mediaKey: string, language: string, format: 'vtt' | 'srt'): string {
  const dot = mediaKey.lastIndexOf('.');
  const stem = dot > mediaKey.lastIndexOf('/') ? mediaKey.slice(0, dot) : mediaKey;
  return `${stem}.${language}.${format}`;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** The record from a task's selected_formats (stored JSON, so checked field by field), or null. */
export function subtitleRecordOf(selected: unknown): SubtitleRecord | null {
  const r = (selected as { subtitles?: unknown } | null)?.subtitles as Partial<Record<keyof SubtitleRecord, unknown>>;
  if (!r || typeof r !== 'object' || (r.mode !== 'embed' && r.mode !== 'sidecar')) return null;
  const files = (Array.isArray(r.files) ? r.files : []).flatMap((f: unknown) => {
    const { language, format, size } = (f ?? {}) as Partial<SidecarFile>;
    return typeof language === 'string' && (format === 'vtt' || format === 'srt') && typeof size === 'number'
      ? [{ language, format, size }]
      : [];
  });
  return {
    mode: r.mode,
    requested: strings(r.requested),
    embedded: strings(r.embedded),
    files,
    missing: strings(r.missing),
  };
}
