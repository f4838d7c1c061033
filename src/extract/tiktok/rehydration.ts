/**
 * Pure reading of a TikTok item page: the
 * `<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__" type="application/json">`
 * blob and its `webapp.video-detail` scope. Field shapes are typed loosely on
 * purpose: TikTok mixes numbers and numeric strings (createTime, stats).
 */

export type NumLike = number | string | null | undefined;

export interface PlayAddr {
  DataSize?: NumLike;
  Width?: NumLike;
  Height?: NumLike;
  UrlList?: string[];
  UrlKey?: string;
}

export interface BitrateInfo {
  GearName?: string;
  Bitrate?: NumLike;
  BitrateFPS?: NumLike;
  CodecType?: string;
  Format?: string;
  PlayAddr?: PlayAddr;
}

export interface SubtitleInfo {
  LanguageCodeName?: string;
  Url?: string;
  Format?: string;
  Source?: string;
}

export interface ImageInfo {
  imageURL?: { urlList?: string[] };
  imageWidth?: number;
  imageHeight?: number;
}

export interface ItemStruct {
  id: string;
  desc?: string;
  createTime?: NumLike;
  author?: { id?: string; uniqueId?: string; nickname?: string };
  stats?: Record<string, NumLike>;
  statsV2?: Record<string, NumLike>;
  music?: { title?: string; authorName?: string; playUrl?: string; duration?: NumLike };
  challenges?: { title?: string }[];
  video?: {
    duration?: NumLike;
    width?: NumLike;
    height?: NumLike;
    cover?: string;
    originCover?: string;
    playAddr?: string;
    downloadAddr?: string;
    bitrate?: NumLike;
    codecType?: string;
    format?: string;
    size?: NumLike;
    bitrateInfo?: BitrateInfo[];
    subtitleInfos?: SubtitleInfo[];
  };
  imagePost?: { images?: ImageInfo[]; cover?: ImageInfo; title?: string };
}

export interface VideoDetail {
  statusCode: number;
  statusMsg: string;
  item: ItemStruct | null;
}

const SCRIPT = /<script[^>]*\bid=["']__UNIVERSAL_DATA_FOR_REHYDRATION__["'][^>]*>([\s\S]*?)<\/script>/;

/** The parsed rehydration JSON, or null when the page has none (decoy or captcha pages). */
export function extractRehydrationData(html: string): unknown {
  const m = SCRIPT.exec(html);
  if (!m?.[1]) return null;
  try {
    return JSON.parse(m[1]) as unknown;
  } catch {
    return null;
  }
}

/** `__DEFAULT_SCOPE__["webapp.video-detail"]` of a page, or null when the page does not carry one. */
export function parseVideoDetail(html: string): VideoDetail | null {
  const data = extractRehydrationData(html) as {
    __DEFAULT_SCOPE__?: Record<string, unknown>;
  } | null;
  const detail = data?.__DEFAULT_SCOPE__?.['webapp.video-detail'] as
    { statusCode?: NumLike; statusMsg?: string; itemInfo?: { itemStruct?: ItemStruct } } | undefined;
  if (!detail || typeof detail !== 'object') return null;
  const item = detail.itemInfo?.itemStruct;
  return {
    statusCode: toNumber(detail.statusCode) ?? 0,
    statusMsg: detail.statusMsg ?? '',
    item: item && typeof item === 'object' && item.id ? item : null,
  };
}

/** Numbers and numeric strings become numbers; anything else null. */
export function toNumber(value: NumLike): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}
