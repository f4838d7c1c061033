/**
 * Native Twitch engine: VODs and live channels through GQL metadata, a
 * playback access token and the usher master playlist; clips through one raw
 * GQL query whose token signs the direct MP4 renditions.
 */
import { AppError } from '../../errors/app-error.js';
import type { ExtractContext, Extractor, Target } from '../extractor.js';
import type { Format, VideoInfo } from '../model.js';
import {
  clipInfo,
  streamAccessToken,
  streamMetadata,
  videoMetadata,
  vodAccessToken,
  type AccessToken,
  type GqlClip,
  type GqlVideo,
} from './gql.js';
import { matchTwitchUrl, twitchKind } from './url.js';
import { parseUsherMaster } from './usher.js';

const USHER = 'https://usher.ttvnw.net';
const THUMBNAIL_SIZE = { width: '1280', height: '720' };

export const twitchExtractor: Extractor = {
  platform: 'twitch',
  match: matchTwitchUrl,
  async extract(target, ctx) {
    switch (twitchKind(target)) {
      case 'vod':
        return extractVod(target, ctx);
      case 'clip':
        return extractClip(target, ctx);
      case 'live':
        return extractLive(target, ctx);
    }
  },
};

async function extractVod(target: Target, ctx: ExtractContext): Promise<VideoInfo> {
  const token = prefetch(vodAccessToken(ctx, target.id));
  const video = await videoMetadata(ctx, target.id);
  if (!video) throw new AppError('not_found', 'Twitch video not found', { id: target.id });
  const { value, signature } = requireToken(await token, target);
  const usherUrl = withQuery(`${USHER}/vod/${target.id}.m3u8`, {
    nauth: value,
    nauthsig: signature,
    allow_source: 'true',
    allow_audio_only: 'true',
    player: 'twitchweb',
    playlist_include_framerate: 'true',
  });
  return { ...vodInfo(video, target), formats: await fetchMaster(ctx, usherUrl, target) };
}

async function extractLive(target: Target, ctx: ExtractContext): Promise<VideoInfo> {
  const token = prefetch(streamAccessToken(ctx, target.id));
  const channel = await streamMetadata(ctx, target.id);
  if (!channel) throw new AppError('not_found', 'Twitch channel not found', { login: target.id });
  if (!channel.stream) throw new AppError('live_not_started', 'Twitch channel is offline', { login: target.id });
  const { value, signature } = requireToken(await token, target);
  const usherUrl = withQuery(`${USHER}/api/v2/channel/hls/${target.id}.m3u8`, {
    sig: signature,
    token: value,
    allow_source: 'true',
    allow_audio_only: 'true',
    playlist_include_framerate: 'true',
    platform: 'web',
    supported_codecs: 'av1,h265,h264',
    // usher caches per p; browsers send a random one to get a fresh playlist
    p: String(Math.floor(Math.random() * 9_999_999)),
  });
  return {
    ...baseInfo(target),
    title: channel.lastBroadcast?.title?.trim() || target.id,
    uploader: target.id,
    uploader_id: target.id,
    upload_date: isoDate(channel.stream.createdAt),
    thumbnail_url: `https://static-cdn.jtvnw.net/previews-ttv/live_user_${target.id}-1280x720.jpg`,
    tags: channel.stream.game?.name ? [channel.stream.game.name] : [],
    is_live: true,
    formats: await fetchMaster(ctx, usherUrl, target),
  };
}

async function extractClip(target: Target, ctx: ExtractContext): Promise<VideoInfo> {
  const clip = await clipInfo(ctx, target.id);
  if (!clip) throw new AppError('not_found', 'Twitch clip not found', { slug: target.id });
  const token = requireToken(clip.playbackAccessToken, target);
  return {
    ...baseInfo(target),
    title: clip.title?.trim() || clip.slug,
    duration: clip.durationSeconds,
    uploader: clip.broadcaster?.displayName ?? clip.broadcaster?.login ?? null,
    uploader_id: clip.broadcaster?.login ?? null,
    upload_date: isoDate(clip.createdAt),
    view_count: clip.viewCount,
    thumbnail_url: clip.thumbnailURL,
    tags: clip.game?.name ? [clip.game.name] : [],
    formats: clipFormats(clip, token),
  };
}

/** Clip renditions are plain MP4 files; the CDN wants the token and its signature in the query. */
export function clipFormats(clip: GqlClip, token: AccessToken): Format[] {
  return (clip.videoQualities ?? []).map((q) => {
    const height = Number.parseInt(q.quality, 10);
    const fps = q.frameRate ?? null;
    return {
      format_id: `${q.quality}p${fps ? Math.round(fps) : ''}`,
      kind: 'muxed',
      ext: 'mp4',
      vcodec: null,
      acodec: null,
      width: null,
      height: Number.isFinite(height) ? height : null,
      fps,
      bitrate: null,
      filesize: null,
      protocol: 'https',
      url: withQuery(q.sourceURL, { sig: token.signature, token: token.value }),
    };
  });
}

export function vodInfo(video: GqlVideo, target: Target): Omit<VideoInfo, 'formats'> {
  return {
    ...baseInfo(target),
    title: video.title?.trim() || `Twitch video ${target.id}`,
    description: video.description || null,
    duration: video.lengthSeconds,
    uploader: video.owner?.displayName ?? video.owner?.login ?? null,
    uploader_id: video.owner?.login ?? null,
    upload_date: isoDate(video.createdAt ?? video.publishedAt),
    view_count: video.viewCount,
    thumbnail_url: sizeThumbnail(video.previewThumbnailURL),
    tags: video.game?.name ? [video.game.name] : [],
  };
}

function baseInfo(target: Target): Omit<VideoInfo, 'formats' | 'title'> {
  return {
    platform: 'twitch',
    id: target.id,
    url: target.url,
    description: null,
    duration: null,
    uploader: null,
    uploader_id: null,
    upload_date: null,
    view_count: null,
    like_count: null,
    thumbnail_url: null,
    tags: [],
    is_live: false,
    extractor: 'twitch',
  };
}

/**
 * Starts the token request alongside the metadata one. Metadata decides first
 * (an unknown id or offline channel is reported as such, not as whatever the
 * token request failed with); a token failure still surfaces at its await.
 */
function prefetch<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/** A null token means the id is unknown; a forbidden one carries Twitch's reason (sub-only, geo-blocked, ...). */
function requireToken(token: AccessToken | null, target: Target): AccessToken {
  if (!token) throw new AppError('not_found', 'Twitch returned no playback token', { id: target.id });
  const auth = parseTokenValue(token.value);
  if (auth.forbidden) {
    throw new AppError('login_required', auth.reason || 'Twitch refused playback', { id: target.id });
  }
  return token;
}

function parseTokenValue(value: string): { forbidden: boolean; reason: string } {
  try {
    const parsed = JSON.parse(value) as { authorization?: { forbidden?: boolean; reason?: string } };
    return { forbidden: parsed.authorization?.forbidden === true, reason: parsed.authorization?.reason ?? '' };
  } catch {
    return { forbidden: false, reason: '' };
  }
}

async function fetchMaster(ctx: ExtractContext, url: string, target: Target): Promise<Format[]> {
  const res = await ctx.http.getText(url, {
    headers: { Accept: 'application/vnd.apple.mpegurl, application/x-mpegURL, */*' },
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  if (res.status === 200 && res.text.trimStart().startsWith('#EXTM3U')) {
    const formats = parseUsherMaster(res.text, url);
    if (formats.length) return formats;
  }
  throw usherError(res.status, res.text, target);
}

/** Usher answers 403 with `[{"error":"…","error_code":"…"}]`, 404 for offline channels / unknown VODs. */
function usherError(status: number, body: string, target: Target): AppError {
  let code = '';
  let message = '';
  try {
    const [first] = JSON.parse(body) as { error?: string; error_code?: string }[];
    code = first?.error_code ?? '';
    message = first?.error ?? '';
  } catch {
    // not JSON: fall through to the status
  }
  const details = { id: target.id, status, error_code: code || undefined };
  if (code === 'vod_manifest_restricted' || code === 'unauthorized_entitlements') {
    return new AppError('login_required', message || 'This Twitch video is for subscribers only', details);
  }
  if (status === 404) {
    return twitchKind(target) === 'live'
      ? new AppError('live_not_started', 'Twitch channel is offline', details)
      : new AppError('not_found', 'Twitch video not found', details);
  }
  return new AppError('upstream_error', message || `Twitch usher answered HTTP ${status}`, details);
}

/** Appends without re-serialising the base, whose own escaping (e.g. `%7C` in clip paths) must survive. */
function withQuery(base: string, params: Record<string, string>): string {
  const query = Object.entries(params)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join('&');
  return `${base}${base.includes('?') ? '&' : '?'}${query}`;
}

/** GQL thumbnails are sometimes templates (`{width}x{height}` or `%{width}x%{height}`). */
function sizeThumbnail(url: string | null): string | null {
  if (!url) return null;
  return url.replace(/%?\{(width|height)\}/g, (_, key: 'width' | 'height') => THUMBNAIL_SIZE[key]);
}

function isoDate(timestamp: string | null | undefined): string | null {
  return timestamp && /^\d{4}-\d{2}-\d{2}/.test(timestamp) ? timestamp.slice(0, 10) : null;
}
