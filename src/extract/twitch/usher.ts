/**
 * Pure parser for Twitch usher master playlists. Two shapes exist:
 *  - classic (VODs, older live): `#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID=g,NAME="720p60"`
 *    names the rendition and the following `#EXT-X-STREAM-INF` points at it with VIDEO="g";
 *  - usher v2 (2026 live): no EXT-X-MEDIA; each STREAM-INF carries IVS-NAME,
 *    STABLE-VARIANT-ID and IVS-VARIANT-SOURCE itself.
 * Every variant is a muxed (or audio-only) HLS media playlist.
 */
import type { Format } from '../model.js';

type Attributes = Record<string, string>;

const VIDEO_CODEC = /^(avc\d|hvc1|hev1|av01|vp0?[89]|dvh1|dvhe)/i;

export function parseUsherMaster(text: string, playlistUrl: string): Format[] {
  const groupNames = new Map<string, string>();
  const formats: Format[] = [];
  const usedIds = new Set<string>();
  let pending: Attributes | null = null;

  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (!line) continue;
    if (line.startsWith('#EXT-X-MEDIA:')) {
      const attrs = parseAttributes(line.slice('#EXT-X-MEDIA:'.length));
      if (attrs.TYPE === 'VIDEO' && attrs['GROUP-ID'] && attrs.NAME) groupNames.set(attrs['GROUP-ID'], attrs.NAME);
    } else if (line.startsWith('#EXT-X-STREAM-INF:')) {
      pending = parseAttributes(line.slice('#EXT-X-STREAM-INF:'.length));
    } else if (!line.startsWith('#') && pending) {
      const format = toFormat(pending, groupNames, new URL(line, playlistUrl).toString());
      format.format_id = uniqueId(format.format_id, pending['STABLE-VARIANT-ID'], usedIds);
      formats.push(format);
      pending = null;
    }
  }
  return formats;
}

/** HLS attribute list: KEY=VALUE pairs, values optionally quoted (quoted values may contain commas). */
export function parseAttributes(list: string): Attributes {
  const attrs: Attributes = {};
  const re = /([A-Z0-9-]+)=("([^"]*)"|[^,]*)/g;
  for (let m = re.exec(list); m; m = re.exec(list)) {
    const [, key, bare, quoted] = m;
    if (key) attrs[key] = quoted ?? bare ?? '';
  }
  return attrs;
}

function toFormat(attrs: Attributes, groupNames: Map<string, string>, url: string): Format {
  const name = attrs['IVS-NAME'] ?? (attrs.VIDEO ? groupNames.get(attrs.VIDEO) : undefined) ?? attrs.VIDEO ?? '';
  const [width, height] = parseResolution(attrs.RESOLUTION);
  const codecs = (attrs.CODECS ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  const vcodec = codecs.find((c) => VIDEO_CODEC.test(c)) ?? null;
  const acodec = codecs.find((c) => !VIDEO_CODEC.test(c)) ?? null;
  const isSource = attrs['IVS-VARIANT-SOURCE'] === 'source' || /source/i.test(name);
  const audioOnly = /audio[\s_]?only/i.test(name) || (!vcodec && height == null && codecs.length > 0);
  const fps = parseFps(attrs['FRAME-RATE'], name);
  return {
    format_id: formatId(name, height, fps),
    kind: audioOnly ? 'audio' : 'muxed',
    ext: audioOnly ? 'm4a' : 'mp4',
    vcodec: audioOnly ? null : vcodec,
    acodec,
    width,
    height,
    fps: audioOnly ? null : fps,
    bitrate: toInt(attrs.BANDWIDTH),
    filesize: null,
    protocol: 'hls',
    url,
    ...(isSource ? { note: 'source' } : {}),
  };
}

/**
 * "720p60" stays as is, "Audio Only" becomes "audio_only", "1080p60 (source)" drops the marker
 * (kept in `note`), and a bare "Source" is named after its resolution. v2 names such as "480p"
 * get their frame rate appended so live and VOD ids agree ("480p30", like STABLE-VARIANT-ID).
 */
function formatId(name: string, height: number | null, fps: number | null): string {
  let id = name
    .replace(/\(source\)/i, '')
    .trim()
    .toLowerCase()
    .replace(/\s+/g, '_');
  if ((id === 'source' || id === 'chunked' || id === '') && height != null) id = `${height}p`;
  if (/^\d+p$/.test(id) && fps != null) id += Math.round(fps);
  return id || 'unknown';
}

/** Names are unique in practice; portrait/landscape twins fall back to the stable variant id. */
function uniqueId(id: string, stableId: string | undefined, used: Set<string>): string {
  let candidate = used.has(id) && stableId ? stableId : id;
  for (let n = 2; used.has(candidate); n++) candidate = `${id}-${n}`;
  used.add(candidate);
  return candidate;
}

function parseResolution(value: string | undefined): [number | null, number | null] {
  const m = /^(\d+)x(\d+)$/.exec(value ?? '');
  return m ? [Number(m[1]), Number(m[2])] : [null, null];
}

function parseFps(frameRate: string | undefined, name: string): number | null {
  const fromAttr = frameRate ? Number.parseFloat(frameRate) : NaN;
  if (Number.isFinite(fromAttr) && fromAttr > 0) return Math.round(fromAttr * 1000) / 1000;
  const fromName = /^\d+p(\d+)/.exec(name);
  return fromName ? Number(fromName[1]) : null;
}

function toInt(value: string | undefined): number | null {
  const n = value ? Number.parseInt(value, 10) : NaN;
  return Number.isFinite(n) ? n : null;
}
