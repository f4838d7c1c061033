/**
 * Pure YouTube URL recognition. Every accepted form is reduced to one
 * canonical URL (the cache key), so query noise such as t=, si=, feature=
 * or pp= never creates a second cache entry for the same video.
 */
import { AppError } from '../../errors/app-error.js';
import type { Target } from '../extractor.js';

const VIDEO_ID = /^[A-Za-z0-9_-]{11}$/;
const PLAYLIST_ID = /^[A-Za-z0-9_-]{2,64}$/;

const SITE_HOSTS = new Set([
  'youtube.com',
  'www.youtube.com',
  'm.youtube.com',
  'music.youtube.com',
  'youtube-nocookie.com',
  'www.youtube-nocookie.com',
]);
const SHORT_HOSTS = new Set(['youtu.be', 'www.youtu.be']);

/** Path prefixes whose next segment is the video id. */
const ID_PATH_PREFIXES = new Set(['shorts', 'live', 'embed', 'v', 'e']);

export function canonicalVideoUrl(id: string): string {
  return `https://www.youtube.com/watch?v=${id}`;
}

export function canonicalPlaylistUrl(id: string): string {
  return `https://www.youtube.com/playlist?list=${id}`;
}

export function matchYoutubeUrl(url: URL): Target | null {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
  const host = url.hostname.toLowerCase();
  const segments = url.pathname.split('/').filter(Boolean);

  if (SHORT_HOSTS.has(host)) return video(segments[0], url);
  if (!SITE_HOSTS.has(host)) return null;

  const [first, second] = segments;
  const list = url.searchParams.get('list');
  if (first === 'watch' && segments.length === 1) {
    // A watch URL with both v= and list= is the video; list= alone is the playlist.
    const v = url.searchParams.get('v');
    if (v === null && list !== null) return playlist(list, url);
    return video(v, url);
  }
  if (first === 'playlist' && segments.length === 1) return playlist(list, url);
  // /embed/videoseries?list=… is the embeddable form of a playlist.
  if (first === 'embed' && second === 'videoseries') return playlist(list, url);
  if (first !== undefined && ID_PATH_PREFIXES.has(first)) return video(second, url);
  return null;
}

function video(id: string | null | undefined, url: URL): Target {
  if (!id || !VIDEO_ID.test(id)) {
    throw new AppError('invalid_url', 'Not a valid YouTube video id', { url: url.toString(), id: id ?? null });
  }
  return { platform: 'youtube', kind: 'video', id, url: canonicalVideoUrl(id) };
}

function playlist(id: string | null, url: URL): Target {
  if (!id || !PLAYLIST_ID.test(id)) {
    throw new AppError('invalid_url', 'Not a valid YouTube playlist id', { url: url.toString(), id });
  }
  return { platform: 'youtube', kind: 'playlist', id, url: canonicalPlaylistUrl(id) };
}
