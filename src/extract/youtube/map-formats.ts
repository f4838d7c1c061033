/**
 * streamingData → Format[]. Only formats with a direct `url` are usable:
 * `signatureCipher` needs the player JS (never fetched, see innertube.ts)
 * and formats with neither are served through SABR only. Those are counted
 * as `skipped` so the caller can try another client.
 */
import type { Format, FormatKind } from '../model.js';
import type { RawFormat, RawStreamingData } from './player-response.js';

export interface MappedStreams {
  formats: Format[];
  /** formats present in the response but not downloadable as they stand */
  skipped: number;
}

export interface MapOptions {
  /** Live streams are offered as HLS only: their adaptive URLs serve single live segments. */
  isLive: boolean;
  /** Headers the CDN expects with this client's URLs (its User-Agent). */
  headers?: Record<string, string>;
}

const EXT: Record<string, string> = {
  'video/mp4': 'mp4',
  'audio/mp4': 'm4a',
  'video/webm': 'webm',
  'audio/webm': 'webm',
  'video/3gpp': '3gp',
};

export function mapStreamingData(sd: RawStreamingData | undefined, opts: MapOptions): MappedStreams {
  const all = [...(sd?.formats ?? []), ...(sd?.adaptiveFormats ?? [])];
  if (opts.isLive) {
    return sd?.hlsManifestUrl
      ? { formats: [hlsFormat(sd.hlsManifestUrl)], skipped: 0 }
      : { formats: [], skipped: all.length };
  }
  const formats: Format[] = [];
  for (const f of all) {
    const mapped = f.url && !f.drmFamilies?.length ? mapFormat(f, f.url, opts.headers) : null;
    if (mapped) formats.push(mapped);
  }
  return { formats, skipped: all.length - formats.length };
}

/** itag alone is not unique: multi-language videos repeat audio itags per track, and DRC audio repeats them again. */
export function formatId(f: RawFormat): string {
  return [String(f.itag), f.audioTrack?.id, f.isDrc ? 'drc' : undefined].filter(Boolean).join('-');
}

function mapFormat(f: RawFormat, url: string, headers: Record<string, string> | undefined): Format | null {
  const mime = /^(video|audio)\/([\w.+-]+)(?:;\s*codecs="([^"]*)")?/.exec(f.mimeType ?? '');
  if (!mime) return null;
  const [, type, subtype, codecList = ''] = mime;
  const codecs = codecList
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  const isVideo = type === 'video';
  const kind: FormatKind = !isVideo ? 'audio' : codecs.length > 1 ? 'muxed' : 'video';
  const bitrate = f.averageBitrate ?? f.bitrate ?? null;
  const size = sizeOf(f, bitrate);
  const note = [
    f.qualityLabel ?? audioQualityLabel(f.audioQuality),
    f.audioTrack?.displayName,
    f.isDrc ? 'DRC' : undefined,
  ]
    .filter(Boolean)
    .join(', ');
  return {
    format_id: formatId(f),
    kind,
    ext: EXT[`${type}/${subtype}`] ?? subtype ?? 'bin',
    vcodec: isVideo ? (codecs[0] ?? null) : null,
    acodec: kind === 'audio' ? (codecs[0] ?? null) : kind === 'muxed' ? (codecs[1] ?? null) : null,
    width: isVideo ? (f.width ?? null) : null,
    height: isVideo ? (f.height ?? null) : null,
    fps: isVideo ? (f.fps ?? null) : null,
    bitrate,
    ...size,
    protocol: 'https',
    url,
    ...(headers ? { http_headers: { ...headers } } : {}),
    ...(f.audioTrack?.id ? { language: f.audioTrack.id.split('.')[0] ?? null } : {}),
    ...(note ? { note } : {}),
  };
}

function sizeOf(f: RawFormat, bitrate: number | null): Pick<Format, 'filesize' | 'filesize_approx'> {
  if (f.contentLength) return { filesize: Number(f.contentLength) };
  const ms = Number(f.approxDurationMs);
  if (bitrate && ms > 0) return { filesize: Math.round((bitrate * ms) / 8000), filesize_approx: true };
  return { filesize: null };
}

function audioQualityLabel(q: string | undefined): string | undefined {
  return q ? q.replace(/^AUDIO_QUALITY_/, '').toLowerCase() + ' audio' : undefined;
}

function hlsFormat(url: string): Format {
  return {
    format_id: 'hls',
    kind: 'muxed',
    ext: 'mp4',
    vcodec: null,
    acodec: null,
    width: null,
    height: null,
    fps: null,
    bitrate: null,
    filesize: null,
    protocol: 'hls',
    url,
    note: 'HLS master playlist (all variants)',
  };
}
