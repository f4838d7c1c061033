/**
 * videoDetails (+ the optional WEB microformat) → VideoInfo metadata.
 * Mobile clients omit the microformat, which is the only place with the
 * upload date and like count; it is fetched separately and may be absent.
 */
import type { Subtitle, VideoInfo } from '../model.js';
import { textOf, type RawMicroformat, type RawPlayerResponse, type RawThumbnail } from './player-response.js';

export type VideoMetadata = Omit<VideoInfo, 'platform' | 'id' | 'url' | 'formats' | 'extractor'>;

export function videoMetadata(player: RawPlayerResponse, microformat: RawMicroformat | null): VideoMetadata {
  const vd = player.videoDetails ?? {};
  const mf = microformat?.playerMicroformatRenderer ?? player.microformat?.playerMicroformatRenderer ?? {};
  const subtitles = subtitlesOf(player);
  return {
    title: vd.title ?? textOf(mf.title) ?? '',
    description: vd.shortDescription ?? textOf(mf.description) ?? null,
    // Live streams report lengthSeconds "0".
    duration: positive(vd.lengthSeconds ?? mf.lengthSeconds),
    uploader: vd.author ?? mf.ownerChannelName ?? null,
    uploader_id: vd.channelId ?? mf.externalChannelId ?? null,
    upload_date: dateOnly(mf.publishDate ?? mf.uploadDate),
    view_count: count(vd.viewCount ?? mf.viewCount),
    like_count: count(mf.likeCount),
    thumbnail_url: largest(vd.thumbnail?.thumbnails) ?? largest(mf.thumbnail?.thumbnails),
    tags: vd.keywords ?? [],
    is_live: vd.isLive === true,
    ...(subtitles ? { subtitles } : {}),
  };
}

function subtitlesOf(player: RawPlayerResponse): Record<string, Subtitle[]> | undefined {
  const tracks = player.captions?.playerCaptionsTracklistRenderer?.captionTracks ?? [];
  const out: Record<string, Subtitle[]> = {};
  for (const t of tracks) {
    if (!t.baseUrl || !t.languageCode) continue;
    const url = new URL(t.baseUrl);
    url.searchParams.set('fmt', 'vtt');
    const name = textOf(t.name);
    (out[t.languageCode] ??= []).push({
      url: url.toString(),
      ext: 'vtt',
      ...(name ? { name } : {}),
      ...(t.kind === 'asr' ? { auto: true } : {}),
    });
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function positive(s: string | undefined): number | null {
  const n = Number(s);
  return Number.isFinite(n) && n > 0 ? n : null;
}

function count(s: string | undefined): number | null {
  if (s === undefined || s === '') return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
}

function dateOnly(s: string | undefined): string | null {
  return s && /^\d{4}-\d{2}-\d{2}/.test(s) ? s.slice(0, 10) : null;
}

function largest(thumbs: RawThumbnail[] | undefined): string | null {
  if (!thumbs?.length) return null;
  return thumbs.reduce((a, b) => ((b.width ?? 0) > (a.width ?? 0) ? b : a)).url;
}
