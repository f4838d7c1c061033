/**
 * The normalized model every extraction engine returns. `ytbh info --json`
 * prints VideoInfo as-is, so field names here are a public contract.
 */
export const PLATFORMS = ['youtube', 'bilibili', 'twitch', 'tiktok', 'generic'] as const;
export type Platform = (typeof PLATFORMS)[number];

export type FormatKind = 'video' | 'audio' | 'muxed';
export type FormatProtocol = 'https' | 'dash' | 'hls';

export interface Format {
  format_id: string;
  kind: FormatKind;
  ext: string;
  vcodec: string | null;
  acodec: string | null;
  width: number | null;
  height: number | null;
  fps: number | null;
  /** bits per second */
  bitrate: number | null;
  /** bytes */
  filesize: number | null;
  filesize_approx?: boolean;
  protocol: FormatProtocol;
  url: string;
  http_headers?: Record<string, string>;
  language?: string | null;
  note?: string;
}

export interface Chapter {
  title: string;
  start_time: number;
  end_time: number;
}

export interface Subtitle {
  url: string;
  ext: string;
  name?: string;
  auto?: boolean;
}

export interface VideoInfo {
  platform: Platform;
  id: string;
  url: string;
  title: string;
  description: string | null;
  /** seconds */
  duration: number | null;
  uploader: string | null;
  uploader_id: string | null;
  /** YYYY-MM-DD */
  upload_date: string | null;
  view_count: number | null;
  like_count: number | null;
  thumbnail_url: string | null;
  tags: string[];
  is_live: boolean;
  chapters?: Chapter[];
  subtitles?: Record<string, Subtitle[]>;
  /** photo posts (TikTok slideshows) */
  images?: string[];
  formats: Format[];
  extractor: string;
}

export interface PlaylistEntry {
  id: string;
  url: string;
  title: string | null;
  duration: number | null;
}

export interface Playlist {
  platform: Platform;
  id: string;
  title: string | null;
  uploader: string | null;
  entries: PlaylistEntry[];
  next_page?: string | null;
}
