/**
 * Native BiliBili engine: view (metadata, parts) → WBI-signed playurl
 * (DASH tracks or muxed durl) plus optional player subtitles.
 */
import { AppError } from '../../errors/app-error.js';
import type { ExtractContext, Extractor, Target } from '../extractor.js';
import type { Subtitle, VideoInfo } from '../model.js';
import { apiData, apiGet, openSession, wbiGet, type ApiSession } from './api.js';
import { isPreview, mapFormats, mapSubtitles, mapVideoInfo } from './map.js';
import type { PlayerV2Data, PlayurlData, ViewData, ViewPage } from './types.js';
import { matchBilibiliUrl, resolveShortLink, SHORT_LINK_HOSTS } from './url.js';

/** DASH | HDR | 4K | Dolby audio | Dolby Vision | 8K | AV1: ask for every track there is. */
const FNVAL_ALL_DASH = 4048;
const QN_BEST = 127;

function pickPage(view: ViewData, target: Target): ViewPage {
  const n = Number(target.hints?.page ?? 1);
  const page = view.pages?.find((p) => p.page === n);
  if (page) return page;
  // Older archives may answer without pages[]; the top-level cid is part 1.
  if (n === 1) return { cid: view.cid, page: 1, part: view.title, duration: view.duration };
  throw new AppError('not_found', `BiliBili video ${view.bvid} has no part ${n}`, { bvid: view.bvid, page: n });
}

async function fetchView(session: ApiSession, bvid: string): Promise<ViewData> {
  const env = await apiGet<ViewData>(session, '/x/web-interface/view', new URLSearchParams({ bvid }).toString());
  return apiData(env, 'view');
}

async function fetchPlayurl(session: ApiSession, bvid: string, cid: number): Promise<PlayurlData> {
  const params = { bvid, cid, fnval: FNVAL_ALL_DASH, fourk: 1, qn: QN_BEST };
  return apiData(await wbiGet<PlayurlData>(session, '/x/player/wbi/playurl', params), 'playurl');
}

/** Subtitles are a bonus: any failure is logged and the video is returned without them. */
async function fetchSubtitles(
  session: ApiSession,
  bvid: string,
  cid: number,
): Promise<Record<string, Subtitle[]> | undefined> {
  try {
    return mapSubtitles(apiData(await wbiGet<PlayerV2Data>(session, '/x/player/wbi/v2', { bvid, cid }), 'player'));
  } catch (err) {
    session.ctx.log.debug({ err, bvid, cid }, 'bilibili player subtitles unavailable');
    return undefined;
  }
}

async function extract(target: Target, ctx: ExtractContext): Promise<VideoInfo> {
  const session = await openSession(ctx);
  const view = await fetchView(session, target.id);
  const page = pickPage(view, target);
  const [play, subtitles] = await Promise.all([
    fetchPlayurl(session, view.bvid, page.cid),
    fetchSubtitles(session, view.bvid, page.cid),
  ]);
  const formats = mapFormats(play, isPreview(view, play));
  if (!formats.length) {
    const code = view.is_upower_exclusive ? 'payment_required' : 'upstream_error';
    throw new AppError(code, 'BiliBili returned no playable streams', { bvid: view.bvid, cid: page.cid });
  }
  return mapVideoInfo({ target, view, page, formats, subtitles });
}

export const bilibiliExtractor: Extractor = {
  platform: 'bilibili',
  shortLinkHosts: SHORT_LINK_HOSTS,
  match: matchBilibiliUrl,
  resolveShortLink,
  extract,
};
