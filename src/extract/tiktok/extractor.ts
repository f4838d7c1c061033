/**
 * Native TikTok engine: one GET of the item page, whose rehydration JSON
 * carries metadata, signed MP4 URLs (several bitrates/codecs), captions and,
 * for photo posts, the slideshow images and their music.
 */
import { AppError } from '../../errors/app-error.js';
import { DEFAULT_USER_AGENT } from '../../infra/http-client/http-client.js';
import type { ExtractContext, Extractor, Target } from '../extractor.js';
import type { Format, Subtitle, VideoInfo } from '../model.js';
import { parseVideoDetail, toNumber, type BitrateInfo, type ItemStruct, type VideoDetail } from './rehydration.js';
import { matchTiktokUrl, pageUrl, resolveTiktokShortLink, SHORT_LINK_HOSTS } from './url.js';

/** statusCode 10204: "item doesn't exist" (recorded). */
const STATUS_NOT_FOUND = 10204;
/** statusCode 10216: private item, as yt-dlp's TikTok extractor reports it ("This video is private"). */
const STATUS_PRIVATE = 10216;

export const tiktokExtractor: Extractor = {
  platform: 'tiktok',
  match: matchTiktokUrl,
  shortLinkHosts: SHORT_LINK_HOSTS,
  resolveShortLink: resolveTiktokShortLink,
  async extract(target, ctx) {
    const { detail, cookies } = await fetchPage(target.id, ctx);
    const item = checkStatus(detail, target.id);
    return itemToVideoInfo(item, target, mediaHeaders(cookies));
  },
};

async function fetchPage(id: string, ctx: ExtractContext): Promise<{ detail: VideoDetail; cookies: string[] }> {
  // Admin cookies, if any, are added by ctx.http (only to the hosts they belong to).
  const res = await ctx.http.getText(pageUrl(id), {
    headers: {
      // A desktop browser UA (the client default) gets the full page; crawler UAs get a decoy without data.
      Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
      'Accept-Language': 'en-US,en;q=0.9',
    },
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  if (res.status === 404) throw new AppError('not_found', 'TikTok item not found', { id });
  if (res.status !== 200) {
    const code = res.status === 429 ? 'rate_limited' : 'upstream_error';
    throw new AppError(code, `TikTok answered HTTP ${res.status}`, { id, status: res.status });
  }
  const detail = parseVideoDetail(res.text);
  if (!detail) throw new AppError('upstream_error', 'TikTok page carried no item data (blocked or changed)', { id });
  return { detail, cookies: res.headers.getSetCookie() };
}

function checkStatus(detail: VideoDetail, id: string): ItemStruct {
  const { statusCode, statusMsg, item } = detail;
  const details = { id, statusCode, statusMsg };
  if (statusCode === STATUS_NOT_FOUND) throw new AppError('not_found', 'TikTok item does not exist', details);
  if (statusCode === STATUS_PRIVATE || /private/i.test(statusMsg)) {
    throw new AppError('private', 'This TikTok item is private', details);
  }
  if (statusCode !== 0) throw new AppError('upstream_error', `TikTok refused the item (status ${statusCode})`, details);
  if (!item) throw new AppError('upstream_error', 'TikTok page had no item', details);
  return item;
}

/**
 * The CDN answers 403 unless the request looks like the web player's: the
 * page's Referer plus the anonymous cookies the page response set
 * (tt_chain_token, which the media URLs name in `tk=`). Admin cookies are
 * deliberately not copied here: formats are returned to API clients.
 */
export function mediaHeaders(setCookies: string[]): Record<string, string> {
  const cookie = setCookies
    .map((c) => c.split(';', 1)[0]?.trim() ?? '')
    .filter((pair) => pair.includes('='))
    .join('; ');
  return {
    Referer: 'https://www.tiktok.com/',
    'User-Agent': DEFAULT_USER_AGENT,
    ...(cookie ? { Cookie: cookie } : {}),
  };
}

export function itemToVideoInfo(item: ItemStruct, target: Target, headers: Record<string, string>): VideoInfo {
  const video = item.video ?? {};
  const stats = { ...item.stats, ...item.statsV2 };
  const images = (item.imagePost?.images ?? []).map(firstImageUrl).filter((u): u is string => !!u);
  const isPhoto = images.length > 0;
  const createTime = toNumber(item.createTime);
  const subtitles = subtitlesOf(item);
  return {
    platform: 'tiktok',
    id: item.id,
    url: target.url,
    title: item.desc?.trim() || item.imagePost?.title?.trim() || `TikTok video ${item.id}`,
    description: item.desc || null,
    duration: toNumber(video.duration) || (isPhoto ? toNumber(item.music?.duration) : null) || null,
    uploader: item.author?.nickname || null,
    uploader_id: item.author?.uniqueId || null,
    upload_date: createTime ? new Date(createTime * 1000).toISOString().slice(0, 10) : null,
    view_count: toNumber(stats.playCount),
    like_count: toNumber(stats.diggCount),
    thumbnail_url: video.cover || video.originCover || firstImageUrl(item.imagePost?.cover) || null,
    tags: (item.challenges ?? []).map((c) => c.title ?? '').filter(Boolean),
    is_live: false,
    ...(subtitles ? { subtitles } : {}),
    ...(isPhoto ? { images } : {}),
    formats: withUniqueIds(isPhoto ? musicFormats(item, headers) : videoFormats(item, headers)),
    extractor: 'tiktok',
  };
}

/** Every bitrate ladder entry, then the web player's default (`playAddr`) and the download URL. */
function videoFormats(item: ItemStruct, headers: Record<string, string>): Format[] {
  const video = item.video ?? {};
  const formats = (video.bitrateInfo ?? []).flatMap((b) => {
    const f = bitrateFormat(b, headers);
    return f ? [f] : [];
  });
  const base = {
    kind: 'muxed' as const,
    ext: video.format || 'mp4',
    acodec: 'aac',
    width: toNumber(video.width) || null,
    height: toNumber(video.height) || null,
    fps: null,
    protocol: 'https' as const,
    http_headers: headers,
  };
  if (video.playAddr) {
    formats.push({
      ...base,
      format_id: 'play',
      vcodec: codecName(video.codecType),
      bitrate: toNumber(video.bitrate),
      filesize: toNumber(video.size),
      url: video.playAddr,
    });
  }
  if (video.downloadAddr) {
    formats.push({
      ...base,
      format_id: 'download',
      vcodec: null,
      bitrate: null,
      filesize: null,
      url: video.downloadAddr,
      note: 'may be watermarked',
    });
  }
  return formats;
}

function bitrateFormat(b: BitrateInfo, headers: Record<string, string>): Format | null {
  const addr = b.PlayAddr ?? {};
  // UrlList holds two CDN edges and a tiktok.com redirector; the first edge is what the web player tries first.
  const url = addr.UrlList?.find(Boolean);
  if (!url) return null;
  const height = toNumber(addr.Height);
  return {
    format_id: b.GearName || `${height ?? 'unknown'}p`,
    kind: 'muxed',
    ext: b.Format || 'mp4',
    vcodec: codecName(b.CodecType, b.GearName, addr.UrlKey),
    // TikTok encodes all web video with AAC audio.
    acodec: 'aac',
    width: toNumber(addr.Width),
    height,
    fps: toNumber(b.BitrateFPS),
    bitrate: toNumber(b.Bitrate),
    filesize: toNumber(addr.DataSize),
    protocol: 'https',
    url,
    http_headers: headers,
  };
}

/** Photo posts play their images over the post's music, which is the only media to download. */
function musicFormats(item: ItemStruct, headers: Record<string, string>): Format[] {
  const url = item.music?.playUrl;
  if (!url) return [];
  const mp4 = /[?&]mime_type=audio_(mp4|m4a|aac)/i.test(url);
  return [
    {
      format_id: 'audio',
      kind: 'audio',
      ext: mp4 ? 'm4a' : 'mp3',
      vcodec: null,
      acodec: mp4 ? 'aac' : 'mp3',
      width: null,
      height: null,
      fps: null,
      bitrate: null,
      filesize: null,
      protocol: 'https',
      url,
      http_headers: headers,
      ...(item.music?.title ? { note: item.music.title } : {}),
    },
  ];
}

/** CodecType is "h264" or "h265_hvc1"; older entries only say it in GearName/UrlKey ("bytevc1" is ByteDance's HEVC). */
export function codecName(...hints: (string | undefined)[]): string | null {
  for (const hint of hints) {
    const text = hint?.toLowerCase() ?? '';
    if (/h265|hevc|hvc1|bytevc1/.test(text)) return 'h265';
    if (/h264|avc/.test(text)) return 'h264';
  }
  return null;
}

function subtitlesOf(item: ItemStruct): Record<string, Subtitle[]> | null {
  const out: Record<string, Subtitle[]> = {};
  for (const s of item.video?.subtitleInfos ?? []) {
    if (!s.Url) continue;
    const lang = s.LanguageCodeName || 'und';
    const format = (s.Format ?? 'webvtt').toLowerCase();
    (out[lang] ??= []).push({
      url: s.Url,
      ext: format === 'webvtt' ? 'vtt' : format,
      name: lang,
      // ASR = automatic speech recognition
      auto: s.Source === 'ASR',
    });
  }
  return Object.keys(out).length ? out : null;
}

function firstImageUrl(image: { imageURL?: { urlList?: string[] } } | undefined): string | undefined {
  return image?.imageURL?.urlList?.find(Boolean);
}

function withUniqueIds(formats: Format[]): Format[] {
  const seen = new Map<string, number>();
  return formats.map((f) => {
    const n = (seen.get(f.format_id) ?? 0) + 1;
    seen.set(f.format_id, n);
    return n === 1 ? f : { ...f, format_id: `${f.format_id}-${n}` };
  });
}
