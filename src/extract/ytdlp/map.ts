/**
 * yt-dlp `-J` JSON → our model. Pure. yt-dlp's output is loosely typed (any
 * field may be missing or null), so every read goes through a typed picker,
 * and only formats a client can fetch over http(s), HLS or DASH survive.
 */
import type {
  Chapter,
  Format,
  FormatProtocol,
  Platform,
  Playlist,
  PlaylistEntry,
  Subtitle,
  VideoInfo,
} from '../model.js';

type Json = Record<string, unknown>;

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const obj = (v: unknown): Json | null =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const int = (v: unknown): number | null => {
  const n = num(v);
  return n === null ? null : Math.round(n);
};

/** Only URLs a client (or our downloader) may fetch; yt-dlp can emit file:, rtmp:, data: and the like. */
export function httpUrl(v: unknown): string | null {
  const s = str(v);
  return s && /^https?:\/\//i.test(s) ? s : null;
}

// yt-dlp extractor keys (`Youtube`, `YoutubeTab`, `BiliBili`, `TwitchVod`, `TikTok`...) → our platforms.
const PLATFORM_KEYS: Array<[RegExp, Platform]> = [
  [/^youtube/i, 'youtube'],
  [/^bili/i, 'bilibili'],
  [/^twitch/i, 'twitch'],
  [/^tiktok/i, 'tiktok'],
];

export function platformOf(extractorKey: string | null): Platform {
  return PLATFORM_KEYS.find(([re]) => extractorKey && re.test(extractorKey))?.[1] ?? 'generic';
}

/** yt-dlp protocol names → ours; null for protocols we cannot serve (rtmp, mhtml storyboards, f4m, ism...). */
export function protocolOf(protocol: string | null): FormatProtocol | null {
  const first = (protocol ?? 'https').split('+')[0]!;
  if (first === 'http' || first === 'https') return 'https';
  if (first.startsWith('m3u8')) return 'hls';
  if (first.startsWith('http_dash_segments')) return 'dash';
  return null;
}

export function mapFormat(f: Json): Format | null {
  const protocol = protocolOf(str(f.protocol));
  // DASH formats carry the manifest in manifest_url; `url` may be a single fragment.
  const url = protocol === 'dash' ? (httpUrl(f.manifest_url) ?? httpUrl(f.url)) : httpUrl(f.url);
  if (!protocol || !url) return null;
  // yt-dlp writes 'none' for an absent stream and leaves the field out when it does not know.
  const vcodec = str(f.vcodec);
  const acodec = str(f.acodec);
  if (vcodec === 'none' && acodec === 'none') return null; // storyboards, images
  const kind = vcodec === 'none' ? 'audio' : acodec === 'none' ? 'video' : 'muxed';
  const exact = int(f.filesize);
  const approx = exact === null ? int(f.filesize_approx) : null;
  const tbr = num(f.tbr);
  const headers = obj(f.http_headers);
  const format: Format = {
    format_id: String(f.format_id ?? '0'),
    kind,
    ext: str(f.ext) ?? 'unknown',
    vcodec: vcodec === 'none' ? null : vcodec,
    acodec: acodec === 'none' ? null : acodec,
    width: int(f.width),
    height: int(f.height),
    fps: num(f.fps),
    bitrate: tbr === null ? null : Math.round(tbr * 1000), // yt-dlp's tbr is kbit/s
    filesize: exact ?? approx,
    protocol,
    url,
  };
  if (approx !== null) format.filesize_approx = true;
  if (headers) {
    format.http_headers = Object.fromEntries(
      Object.entries(headers).filter((e): e is [string, string] => typeof e[1] === 'string'),
    );
  }
  const language = str(f.language);
  if (language) format.language = language;
  const note = str(f.format_note);
  if (note) format.note = note;
  return format;
}

function mapChapters(v: unknown): Chapter[] | undefined {
  const chapters = arr(v)
    .map(obj)
    .flatMap((c) => {
      const start = num(c?.start_time);
      const end = num(c?.end_time);
      return c && start !== null && end !== null
        ? [{ title: str(c.title) ?? '', start_time: start, end_time: end }]
        : [];
    });
  return chapters.length ? chapters : undefined;
}

// Automatic captions are left out: for YouTube they list every auto-translation (100+ languages).
function mapSubtitles(v: unknown): Record<string, Subtitle[]> | undefined {
  const out: Record<string, Subtitle[]> = {};
  for (const [lang, list] of Object.entries(obj(v) ?? {})) {
    const subs = arr(list)
      .map(obj)
      .flatMap((s) => {
        const url = httpUrl(s?.url);
        if (!s || !url) return [];
        const sub: Subtitle = { url, ext: str(s.ext) ?? 'unknown' };
        const name = str(s.name);
        if (name) sub.name = name;
        return [sub];
      });
    if (subs.length) out[lang] = subs;
  }
  return Object.keys(out).length ? out : undefined;
}

/** `20240131` → `2024-01-31` */
function isoDate(v: unknown): string | null {
  const m = str(v)?.match(/^(\d{4})(\d{2})(\d{2})$/);
  return m ? `${m[1]}-${m[2]}-${m[3]}` : null;
}

function thumbnailOf(j: Json): string | null {
  // yt-dlp sorts `thumbnails` worst → best and copies the best into `thumbnail`.
  const best = arr(j.thumbnails)
    .map((t) => httpUrl(obj(t)?.url))
    .filter((u): u is string => u !== null)
    .at(-1);
  return httpUrl(j.thumbnail) ?? best ?? null;
}

/** yt-dlp puts a lone format at the top level instead of in `formats`. */
function rawFormats(j: Json): Json[] {
  const list = arr(j.formats).map(obj);
  if (list.length) return list.filter((f): f is Json => f !== null);
  return j.url ? [j] : [];
}

/** Maps a single-video `-J` document. `requestedUrl` is the fallback for `url`. */
export function mapVideoInfo(j: Json, requestedUrl: string): VideoInfo {
  const extractorKey = str(j.extractor_key) ?? str(j.extractor) ?? 'Generic';
  const info: VideoInfo = {
    platform: platformOf(extractorKey),
    id: String(j.id ?? ''),
    url: httpUrl(j.webpage_url) ?? httpUrl(j.original_url) ?? requestedUrl,
    title: str(j.title) ?? str(j.fulltitle) ?? str(j.id) ?? '',
    description: str(j.description),
    duration: num(j.duration),
    uploader: str(j.uploader) ?? str(j.channel),
    uploader_id: str(j.uploader_id) ?? str(j.channel_id),
    upload_date: isoDate(j.upload_date),
    view_count: int(j.view_count),
    like_count: int(j.like_count),
    thumbnail_url: thumbnailOf(j),
    tags: arr(j.tags).filter((t): t is string => typeof t === 'string'),
    is_live: j.is_live === true || j.live_status === 'is_live',
    formats: rawFormats(j)
      .map(mapFormat)
      .filter((f): f is Format => f !== null),
    extractor: `ytdlp:${extractorKey}`,
  };
  const chapters = mapChapters(j.chapters);
  if (chapters) info.chapters = chapters;
  const subtitles = mapSubtitles(j.subtitles);
  if (subtitles) info.subtitles = subtitles;
  return info;
}

const SMUGGLE = '#__youtubedl_smuggle=';

/** yt-dlp "smuggles" internal hints into flat entry URLs as a fragment; strip it, keep its video id. */
export function unsmuggle(url: string): { url: string; id: string | null } {
  const at = url.indexOf(SMUGGLE);
  if (at < 0) return { url, id: null };
  let id: string | null = null;
  try {
    const data = JSON.parse(decodeURIComponent(url.slice(at + SMUGGLE.length).replace(/\+/g, ' '))) as unknown;
    id = str(obj(data)?.force_videoid);
  } catch {
    // undecodable hints are only hints
  }
  return { url: url.slice(0, at), id };
}

function mapEntry(e: Json): PlaylistEntry | null {
  const raw = httpUrl(e.url) ?? httpUrl(e.webpage_url) ?? httpUrl(e.original_url);
  if (!raw) return null;
  const { url, id: hintedId } = unsmuggle(raw);
  const id = str(e.id) ?? hintedId ?? url;
  return { id, url, title: str(e.title), duration: num(e.duration) };
}

/** Maps a `--flat-playlist -J` document (`_type: 'playlist'`). */
export function mapPlaylist(j: Json): Playlist {
  return {
    platform: platformOf(str(j.extractor_key) ?? str(j.extractor)),
    id: String(j.id ?? ''),
    title: str(j.title),
    uploader: str(j.uploader) ?? str(j.channel),
    entries: arr(j.entries)
      .map(obj)
      .flatMap((e) => (e ? [mapEntry(e)] : []))
      .filter((e): e is PlaylistEntry => e !== null),
  };
}

export function isPlaylist(j: Json): boolean {
  return j._type === 'playlist' || j._type === 'multi_video';
}
