/**
 * Twitch URL recognition. Three kinds of target share the engine and are told
 * apart by `hints.kind`: a VOD (numeric id), a clip (slug) and a live channel
 * (login).
 */
import { AppError } from '../../errors/app-error.js';
import type { Target } from '../extractor.js';

export type TwitchKind = 'vod' | 'clip' | 'live';

const MAIN_HOSTS = new Set(['twitch.tv', 'www.twitch.tv', 'm.twitch.tv', 'go.twitch.tv']);
const CLIP_HOSTS = new Set(['clips.twitch.tv', 'm.clips.twitch.tv']);
const PLAYER_HOST = 'player.twitch.tv';

const VOD_ID = /^v?(\d+)$/;
const CLIP_SLUG = /^[A-Za-z0-9_-]+$/;
const LOGIN = /^[A-Za-z0-9_]{1,25}$/;

/** First path segments of twitch.tv pages that are not channels. */
const NOT_CHANNELS = new Set(
  (
    'directory videos settings subscriptions inventory wallet drops friends messages search downloads jobs p ' +
    'prime turbo store login signup logout broadcast moderator popout embed team u following payments bits clip'
  ).split(' '),
);

export function twitchTarget(kind: TwitchKind, id: string): Target {
  const url =
    kind === 'vod'
      ? `https://www.twitch.tv/videos/${id}`
      : kind === 'clip'
        ? `https://clips.twitch.tv/${id}`
        : `https://www.twitch.tv/${id}`;
  return { platform: 'twitch', kind: 'video', id, url, hints: { kind } };
}

export function twitchKind(target: Target): TwitchKind {
  const kind = target.hints?.kind;
  if (kind === 'vod' || kind === 'clip' || kind === 'live') return kind;
  // Targets built without hints (e.g. from a stored row): a numeric id can only be a VOD.
  return /^\d+$/.test(target.id) ? 'vod' : 'clip';
}

export function matchTwitchUrl(url: URL): Target | null {
  const host = url.hostname.toLowerCase();
  const parts = url.pathname.split('/').filter(Boolean);
  if (CLIP_HOSTS.has(host)) {
    const slug = parts[0] === 'embed' ? url.searchParams.get('clip') : parts[0];
    return slug ? clip(slug) : null;
  }
  if (host === PLAYER_HOST) return matchPlayer(url);
  if (!MAIN_HOSTS.has(host)) return null;

  const [first, second, third] = parts;
  if (!first) return null;
  // /videos/ID, and the older /CHANNEL/v/ID and /CHANNEL/video/ID forms
  if (first === 'videos' && second) return vod(second);
  if ((second === 'v' || second === 'video') && third) return vod(third);
  if (second === 'clip' && third) return clip(third);
  if (first === 'clip' && second) return clip(second); // m.twitch.tv/clip/SLUG
  if (parts.length === 1 && !NOT_CHANNELS.has(first.toLowerCase()) && LOGIN.test(first)) {
    return twitchTarget('live', first.toLowerCase());
  }
  return null;
}

/** player.twitch.tv/?video=v123 | ?clip=SLUG | ?channel=LOGIN */
function matchPlayer(url: URL): Target | null {
  const video = url.searchParams.get('video');
  if (video) return vod(video);
  const slug = url.searchParams.get('clip');
  if (slug) return clip(slug);
  const channel = url.searchParams.get('channel');
  if (channel && LOGIN.test(channel)) return twitchTarget('live', channel.toLowerCase());
  return null;
}

function vod(raw: string): Target {
  const m = VOD_ID.exec(raw);
  if (!m?.[1]) throw new AppError('invalid_url', 'Malformed Twitch video id', { id: raw });
  return twitchTarget('vod', m[1]);
}

function clip(slug: string): Target {
  if (!CLIP_SLUG.test(slug)) throw new AppError('invalid_url', 'Malformed Twitch clip slug', { slug });
  return twitchTarget('clip', slug);
}
