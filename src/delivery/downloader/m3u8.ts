/**
 * A pure HLS playlist parser (RFC 8216): text + base URL in, plain data out.
 * No I/O here; the downloader decides what it supports.
 */
import { AppError } from '../../errors/app-error.js';

export interface HlsByteRange {
  length: number;
  offset: number;
}

export interface HlsKey {
  /** NONE, AES-128, SAMPLE-AES, SAMPLE-AES-CTR... as written */
  method: string;
  /** absolute URL; null for METHOD=NONE */
  uri: string | null;
  /** the explicit IV (16 bytes), or null: then the media sequence number is the IV */
  iv: Uint8Array | null;
  keyFormat: string | null;
}

export interface HlsMap {
  uri: string;
  byteRange: HlsByteRange | null;
  /** the key in force where the tag appears */
  key: HlsKey | null;
}

export interface HlsSegment {
  uri: string;
  /** seconds (EXTINF) */
  duration: number;
  title: string | null;
  /** media sequence number: EXT-X-MEDIA-SEQUENCE + index */
  sequence: number;
  key: HlsKey | null;
  byteRange: HlsByteRange | null;
  map: HlsMap | null;
  discontinuity: boolean;
}

export interface MediaPlaylist {
  type: 'media';
  version: number | null;
  targetDuration: number | null;
  mediaSequence: number;
  playlistType: string | null;
  endList: boolean;
  segments: HlsSegment[];
  /** sum of EXTINF */
  durationS: number;
}

export interface HlsVariant {
  uri: string;
  bandwidth: number | null;
  averageBandwidth: number | null;
  resolution: { width: number; height: number } | null;
  codecs: string | null;
  frameRate: number | null;
  audio: string | null;
  attributes: Record<string, string>;
}

export interface HlsRendition {
  type: string;
  groupId: string | null;
  name: string | null;
  language: string | null;
  uri: string | null;
  isDefault: boolean;
  attributes: Record<string, string>;
}

export interface MasterPlaylist {
  type: 'master';
  variants: HlsVariant[];
  /** EXT-X-MEDIA renditions (alternative audio, subtitles) */
  renditions: HlsRendition[];
}

export type Playlist = MasterPlaylist | MediaPlaylist;

function badPlaylist(message: string, details: Record<string, unknown> = {}): AppError {
  return new AppError('upstream_error', message, { reason: 'bad_playlist', ...details });
}

/** Parses an attribute list: KEY=VALUE pairs, commas inside quoted strings allowed. Quotes are removed. */
export function parseAttributes(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /\s*([A-Z0-9-]+)\s*=\s*("[^"]*"|[^,]*)\s*(?:,|$)/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < text.length && (m = re.exec(text)) !== null) {
    const raw = m[2]!.trim();
    out[m[1]!] = raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? raw.slice(1, -1) : raw;
    if (m[0].length === 0) break;
  }
  return out;
}

function resolve(uri: string, base: string): string {
  try {
    return new URL(uri, base).toString();
  } catch {
    throw badPlaylist('The playlist has an invalid URI', { uri });
  }
}

function num(v: string | undefined): number | null {
  if (v === undefined || v.trim() === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** `0x` + 32 hex digits → 16 bytes. */
export function parseIv(hex: string): Uint8Array {
  const m = /^0[xX]([0-9a-fA-F]{1,32})$/.exec(hex.trim());
  if (!m) throw badPlaylist('The playlist has an invalid EXT-X-KEY IV', { iv: hex });
  const digits = m[1]!.padStart(32, '0');
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(digits.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** The IV for a segment: the key's explicit IV, else the sequence number as a 128-bit big-endian integer. */
export function segmentIv(key: HlsKey, sequence: number): Uint8Array {
  if (key.iv) return key.iv;
  const out = new Uint8Array(16);
  let n = BigInt(sequence);
  for (let i = 15; i >= 0 && n > 0n; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

/** `LENGTH[@OFFSET]`; without an offset the range continues the previous one of the same resource. */
function parseByteRange(text: string, previousEnd: number | null): HlsByteRange {
  const m = /^(\d+)(?:@(\d+))?$/.exec(text.trim());
  if (!m) throw badPlaylist('The playlist has an invalid byte range', { value: text });
  const offset = m[2] !== undefined ? Number(m[2]) : previousEnd;
  if (offset === null) throw badPlaylist('A byte range without offset has nothing to continue', { value: text });
  return { length: Number(m[1]), offset };
}

/** Parses a master or media playlist; URIs come back absolute (resolved against baseUrl). */
export function parseM3u8(text: string, baseUrl: string): Playlist {
  const lines = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (lines[0] !== '#EXTM3U') throw badPlaylist('Not an HLS playlist (no #EXTM3U header)');
  const isMaster = lines.some((l) => l.startsWith('#EXT-X-STREAM-INF:'));
  return isMaster ? parseMaster(lines, baseUrl) : parseMedia(lines, baseUrl);
}

function parseMaster(lines: string[], baseUrl: string): MasterPlaylist {
  const variants: HlsVariant[] = [];
  const renditions: HlsRendition[] = [];
  let pending: Record<string, string> | null = null;
  for (const line of lines) {
    if (line.startsWith('#EXT-X-STREAM-INF:')) {
      pending = parseAttributes(line.slice('#EXT-X-STREAM-INF:'.length));
    } else if (line.startsWith('#EXT-X-MEDIA:')) {
      const a = parseAttributes(line.slice('#EXT-X-MEDIA:'.length));
      renditions.push({
        type: a.TYPE ?? '',
        groupId: a['GROUP-ID'] ?? null,
        name: a.NAME ?? null,
        language: a.LANGUAGE ?? null,
        uri: a.URI ? resolve(a.URI, baseUrl) : null,
        isDefault: a.DEFAULT === 'YES',
        attributes: a,
      });
    } else if (!line.startsWith('#') && pending) {
      const res = /^(\d+)x(\d+)$/.exec(pending.RESOLUTION ?? '');
      variants.push({
        uri: resolve(line, baseUrl),
        bandwidth: num(pending.BANDWIDTH),
        averageBandwidth: num(pending['AVERAGE-BANDWIDTH']),
        resolution: res ? { width: Number(res[1]), height: Number(res[2]) } : null,
        codecs: pending.CODECS ?? null,
        frameRate: num(pending['FRAME-RATE']),
        audio: pending.AUDIO ?? null,
        attributes: pending,
      });
      pending = null;
    }
  }
  if (variants.length === 0) throw badPlaylist('The master playlist lists no variants');
  return { type: 'master', variants, renditions };
}

function parseMedia(lines: string[], baseUrl: string): MediaPlaylist {
  const out: MediaPlaylist = {
    type: 'media',
    version: null,
    targetDuration: null,
    mediaSequence: 0,
    playlistType: null,
    endList: false,
    segments: [],
    durationS: 0,
  };
  let key: HlsKey | null = null;
  let map: HlsMap | null = null;
  let inf: { duration: number; title: string | null } | null = null;
  let byteRange: string | null = null;
  let discontinuity = false;
  /** end offset of the last byte range, per resource, for ranges without an offset */
  const rangeEnds = new Map<string, number>();

  for (const line of lines) {
    if (!line.startsWith('#')) {
      if (!inf) continue; // a URI without EXTINF is not a segment
      const uri = resolve(line, baseUrl);
      let range: HlsByteRange | null = null;
      if (byteRange !== null) {
        range = parseByteRange(byteRange, rangeEnds.get(uri) ?? null);
        rangeEnds.set(uri, range.offset + range.length);
      }
      out.segments.push({
        uri,
        duration: inf.duration,
        title: inf.title,
        sequence: out.mediaSequence + out.segments.length,
        key,
        byteRange: range,
        map,
        discontinuity,
      });
      out.durationS += inf.duration;
      inf = null;
      byteRange = null;
      discontinuity = false;
      continue;
    }
    const colon = line.indexOf(':');
    const tag = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1);
    switch (tag) {
      case '#EXTINF': {
        const comma = value.indexOf(',');
        const duration = Number(comma === -1 ? value : value.slice(0, comma));
        if (!Number.isFinite(duration) || duration < 0)
          throw badPlaylist('The playlist has an invalid EXTINF', { value });
        const title = comma === -1 ? '' : value.slice(comma + 1).trim();
        inf = { duration, title: title || null };
        break;
      }
      case '#EXT-X-VERSION':
        out.version = num(value);
        break;
      case '#EXT-X-TARGETDURATION':
        out.targetDuration = num(value);
        break;
      case '#EXT-X-MEDIA-SEQUENCE':
        out.mediaSequence = num(value) ?? 0;
        break;
      case '#EXT-X-PLAYLIST-TYPE':
        out.playlistType = value.trim() || null;
        break;
      case '#EXT-X-ENDLIST':
        out.endList = true;
        break;
      case '#EXT-X-DISCONTINUITY':
        discontinuity = true;
        break;
      case '#EXT-X-BYTERANGE':
        byteRange = value;
        break;
      case '#EXT-X-KEY': {
        const a = parseAttributes(value);
        const method = (a.METHOD ?? '').toUpperCase();
        if (!method) throw badPlaylist('EXT-X-KEY without METHOD');
        key =
          method === 'NONE'
            ? null
            : {
                method,
                uri: a.URI ? resolve(a.URI, baseUrl) : null,
                iv: a.IV ? parseIv(a.IV) : null,
                keyFormat: a.KEYFORMAT ?? null,
              };
        break;
      }
      case '#EXT-X-MAP': {
        const a = parseAttributes(value);
        if (!a.URI) throw badPlaylist('EXT-X-MAP without URI');
        map = {
          uri: resolve(a.URI, baseUrl),
          byteRange: a.BYTERANGE ? parseByteRange(a.BYTERANGE, 0) : null,
          key,
        };
        break;
      }
      default:
        break; // unknown tags are ignored, as the RFC requires
    }
  }
  return out;
}

/**
 * The variant to download: the one whose URI equals `preferredUrl` (absolute,
 * or relative to the master), else the highest BANDWIDTH (then AVERAGE-BANDWIDTH, then resolution).
 */
export function selectVariant(master: MasterPlaylist, preferredUrl?: string, baseUrl?: string): HlsVariant {
  if (preferredUrl) {
    const wanted = baseUrl ? resolve(preferredUrl, baseUrl) : preferredUrl;
    const hit = master.variants.find((v) => v.uri === wanted || v.uri === preferredUrl);
    if (!hit) {
      throw new AppError('not_found', 'The requested variant is not in the master playlist', {
        reason: 'variant_not_found',
      });
    }
    return hit;
  }
  const score = (v: HlsVariant): [number, number, number] => [
    v.bandwidth ?? -1,
    v.averageBandwidth ?? -1,
    (v.resolution?.width ?? 0) * (v.resolution?.height ?? 0),
  ];
  let best = master.variants[0]!;
  for (const v of master.variants.slice(1)) {
    const a = score(v);
    const b = score(best);
    if (a[0] > b[0] || (a[0] === b[0] && (a[1] > b[1] || (a[1] === b[1] && a[2] > b[2])))) best = v;
  }
  return best;
}
