/** The parts of BiliBili's API answers the extractor reads (see test/fixtures/platforms/bilibili). */

/** Every API answer is HTTP 200 with a numeric `code`; 0 is success. */
export interface ApiEnvelope<T> {
  code: number;
  message?: string;
  data?: T | null;
}

export interface ViewPage {
  cid: number;
  page: number;
  part: string;
  duration: number;
}

export interface ViewData {
  bvid: string;
  aid: number;
  title: string;
  desc?: string;
  duration: number;
  pic?: string;
  pubdate?: number;
  owner?: { mid: number; name: string };
  stat?: { view?: number; like?: number };
  cid: number;
  pages?: ViewPage[];
  /** "充电专属" (supporters only) video; the anonymous playurl is a preview */
  is_upower_exclusive?: boolean;
  is_upower_preview?: boolean;
}

export interface DashStream {
  id: number;
  baseUrl?: string;
  base_url?: string;
  bandwidth?: number;
  mimeType?: string;
  mime_type?: string;
  codecs?: string;
  width?: number;
  height?: number;
  frameRate?: string;
  frame_rate?: string;
  /** 7 AVC, 12 HEVC, 13 AV1 (0 for audio) */
  codecid?: number;
}

export interface DashData {
  /** seconds */
  duration?: number;
  video?: DashStream[] | null;
  audio?: DashStream[] | null;
  dolby?: { audio?: DashStream[] | null } | null;
  flac?: { audio?: DashStream | null } | null;
}

export interface DurlSegment {
  order: number;
  /** ms */
  length?: number;
  /** bytes */
  size?: number;
  url: string;
}

export interface PlayurlData {
  quality?: number;
  /** mp4, flv, flv720, … (for durl answers, the container) */
  format?: string;
  accept_description?: string[];
  video_codecid?: number;
  dash?: DashData | null;
  durl?: DurlSegment[] | null;
}

export interface NavData {
  wbi_img?: { img_url?: string; sub_url?: string };
}

export interface PlayerSubtitle {
  lan: string;
  lan_doc?: string;
  subtitle_url?: string;
  /** 1 = AI-generated */
  type?: number;
}

export interface PlayerV2Data {
  subtitle?: { subtitles?: PlayerSubtitle[] | null } | null;
}
