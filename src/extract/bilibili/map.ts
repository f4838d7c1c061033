/** BiliBili API JSON → the normalized model. */
import { DEFAULT_USER_AGENT } from '../../infra/http-client/http-client.js';
import type { Target } from '../extractor.js';
import type { Format, Subtitle, VideoInfo } from '../model.js';
import type { DashData, DashStream, DurlSegment, PlayerV2Data, PlayurlData, ViewData, ViewPage } from './types.js';

/** The CDN answers 403 without a bilibili.com Referer and a browser UA. */
export const MEDIA_HEADERS: Readonly<Record<string, string>> = {
  Referer: 'https://www.bilibili.com',
  'User-Agent': DEFAULT_USER_AGENT,
};

/** qn → label (and nominal height, used where the answer carries no dimensions). */
const QUALITIES: Readonly<Record<number, { label: string; height: number | null }>> = {
  6: { label: '240P', height: 240 },
  16: { label: '360P', height: 360 },
  32: { label: '480P', height: 480 },
  64: { label: '720P', height: 720 },
  74: { label: '720P60', height: 720 },
  80: { label: '1080P', height: 1080 },
  100: { label: '智能修复', height: null },
  112: { label: '1080P+', height: 1080 },
  116: { label: '1080P60', height: 1080 },
  120: { label: '4K 超清', height: 2160 },
  125: { label: 'HDR', height: null },
  126: { label: '杜比视界', height: null },
  127: { label: '8K', height: 4320 },
};

const AUDIO_LABELS: Readonly<Record<number, string>> = {
  30216: '64K',
  30232: '132K',
  30280: '192K',
  30250: 'Dolby Atmos',
  30251: 'Hi-Res FLAC',
};

const CODEC_NAMES: Readonly<Record<number, string>> = { 7: 'avc', 12: 'hevc', 13: 'av1' };

/** BiliBili hands out `http://` and protocol-relative `//` URLs; both are served over https. */
export function httpsUrl(url: string): string {
  if (url.startsWith('//')) return `https:${url}`;
  return url.replace(/^http:\/\//, 'https://');
}

/** pubdate is a Unix time; BiliBili dates are in China time (UTC+8). */
export function uploadDate(pubdate: number | undefined): string | null {
  if (!pubdate) return null;
  return new Date((pubdate + 8 * 3600) * 1000).toISOString().slice(0, 10);
}

function extFromMime(mime: string | undefined, kind: 'video' | 'audio'): string {
  if (mime?.endsWith('/webm')) return 'webm';
  return kind === 'video' ? 'mp4' : 'm4a';
}

type DashFields = Pick<Format, 'bitrate' | 'filesize' | 'filesize_approx' | 'protocol' | 'url' | 'http_headers'>;

function dashFields(s: DashStream, duration: number | undefined): DashFields {
  const bitrate = s.bandwidth ?? null;
  // DASH answers carry no sizes; bandwidth × duration is close enough to plan a download.
  const filesize = bitrate && duration ? Math.round((bitrate * duration) / 8) : null;
  return {
    bitrate,
    filesize,
    ...(filesize !== null ? { filesize_approx: true } : {}),
    protocol: 'dash',
    url: s.baseUrl ?? s.base_url ?? '',
    http_headers: { ...MEDIA_HEADERS },
  };
}

function dashVideo(s: DashStream, duration: number | undefined): Format {
  const fps = Number.parseFloat(s.frameRate ?? s.frame_rate ?? '');
  const note = QUALITIES[s.id]?.label;
  return {
    format_id: `dash-${s.id}-${s.codecid ?? 0}`,
    kind: 'video',
    ext: extFromMime(s.mimeType ?? s.mime_type, 'video'),
    vcodec: s.codecs ?? (s.codecid ? CODEC_NAMES[s.codecid] : undefined) ?? null,
    acodec: null,
    width: s.width ?? null,
    height: s.height ?? null,
    fps: Number.isFinite(fps) ? fps : null,
    ...dashFields(s, duration),
    ...(note ? { note } : {}),
  };
}

function dashAudio(s: DashStream, duration: number | undefined): Format {
  const note = AUDIO_LABELS[s.id];
  return {
    format_id: `audio-${s.id}`,
    kind: 'audio',
    ext: extFromMime(s.mimeType ?? s.mime_type, 'audio'),
    vcodec: null,
    acodec: s.codecs ?? null,
    width: null,
    height: null,
    fps: null,
    ...dashFields(s, duration),
    ...(note ? { note } : {}),
  };
}

/** video[], then audio[] plus the Dolby Atmos and Hi-Res FLAC tracks, which come in their own fields. */
function dashFormats(dash: DashData): Format[] {
  const audio = [...(dash.audio ?? []), ...(dash.dolby?.audio ?? []), ...(dash.flac?.audio ? [dash.flac.audio] : [])];
  return [
    ...(dash.video ?? []).map((s) => dashVideo(s, dash.duration)),
    ...audio.map((s) => dashAudio(s, dash.duration)),
  ].filter((f) => f.url);
}

function durlFormat(seg: DurlSegment, play: PlayurlData, multi: boolean, preview: boolean): Format {
  const qn = play.quality ?? 0;
  const seconds = seg.length ? seg.length / 1000 : 0;
  const note = preview ? 'preview' : QUALITIES[qn]?.label;
  return {
    format_id: multi ? `durl-${qn}-${seg.order}` : `durl-${qn}`,
    kind: 'muxed',
    ext: play.format?.startsWith('flv') ? 'flv' : 'mp4',
    vcodec: (play.video_codecid && CODEC_NAMES[play.video_codecid]) || null,
    // MP4/FLV durl files are AVC or HEVC with AAC audio.
    acodec: 'mp4a',
    width: null,
    height: QUALITIES[qn]?.height ?? null,
    fps: null,
    bitrate: seg.size && seconds ? Math.round((seg.size * 8) / seconds) : null,
    filesize: seg.size ?? null,
    protocol: 'https',
    url: seg.url,
    http_headers: { ...MEDIA_HEADERS },
    ...(note ? { note } : {}),
  };
}

/** DASH tracks when present, else the muxed `durl` segments (MP4/FLV, or a paid video's preview). */
export function mapFormats(play: PlayurlData, preview: boolean): Format[] {
  if (play.dash) return dashFormats(play.dash);
  const segments = [...(play.durl ?? [])].sort((a, b) => a.order - b.order);
  return segments.map((seg) => durlFormat(seg, play, segments.length > 1, preview));
}

/** A paid or supporters-only video served to a caller who may only watch the 试看 (trial) cut. */
export function isPreview(view: ViewData, play: PlayurlData): boolean {
  return play.accept_description?.includes('试看') === true || (!play.dash && view.is_upower_preview === true);
}

export function mapSubtitles(v2: PlayerV2Data): Record<string, Subtitle[]> | undefined {
  const out: Record<string, Subtitle[]> = {};
  for (const s of v2.subtitle?.subtitles ?? []) {
    if (!s.subtitle_url) continue;
    const auto = s.type === 1 || s.lan.startsWith('ai-');
    const sub: Subtitle = { url: httpsUrl(s.subtitle_url), ext: 'json', ...(s.lan_doc ? { name: s.lan_doc } : {}) };
    (out[s.lan] ??= []).push(auto ? { ...sub, auto } : sub);
  }
  return Object.keys(out).length ? out : undefined;
}

export interface MappedVideo {
  target: Target;
  view: ViewData;
  page: ViewPage;
  formats: Format[];
  subtitles: Record<string, Subtitle[]> | undefined;
}

export function mapVideoInfo({ target, view, page, formats, subtitles }: MappedVideo): VideoInfo {
  const multiPart = (view.pages?.length ?? 0) > 1;
  return {
    platform: 'bilibili',
    id: view.bvid,
    url: target.url,
    title: multiPart ? `${view.title} P${page.page} ${page.part}` : view.title,
    description: view.desc || null,
    duration: page.duration,
    uploader: view.owner?.name ?? null,
    uploader_id: view.owner ? String(view.owner.mid) : null,
    upload_date: uploadDate(view.pubdate),
    view_count: view.stat?.view ?? null,
    like_count: view.stat?.like ?? null,
    thumbnail_url: view.pic ? httpsUrl(view.pic) : null,
    // The view answer has no tags (they need a separate x/tag call).
    tags: [],
    is_live: false,
    ...(subtitles ? { subtitles } : {}),
    formats,
    extractor: 'bilibili',
  };
}
