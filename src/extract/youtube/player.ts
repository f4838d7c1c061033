/**
 * The /player client chain. Clients are tried in order until one answers
 * with nothing but direct URLs; direct formats found on the way are kept.
 *
 * The order follows the 2026 recordings (test/fixtures/.../innertube-2026):
 * 1. ANDROID through the Shorts endpoint (reel/reel_item_watch) works for
 *    any video without a PoToken and gives the authoritative playability
 *    verdict, itag 18 with a direct URL and the live HLS manifest; its
 *    adaptive formats are SABR-only.
 * 2. VISIONOS /player answers with direct URLs for every adaptive format.
 * WEB is not in the chain: its URLs need the player JS (cipher and `n`).
 */
import { randomBytes } from 'node:crypto';
import { Constants } from 'youtubei.js';
import { AppError, isAppError } from '../../errors/app-error.js';
import type { ExtractContext } from '../extractor.js';
import type { Format } from '../model.js';
import { innertubePost } from './innertube.js';
import { mapStreamingData } from './map-formats.js';
import { playabilityError } from './playability.js';
import type { RawMicroformat, RawPlayerResponse } from './player-response.js';

const MOBILE_API = 'https://youtubei.googleapis.com/youtubei/v1';
const WEB_API = 'https://www.youtube.com/youtubei/v1';

interface PlayerClient {
  name: string;
  url: string;
  body(videoId: string, cpn: string): object;
  unwrap(json: unknown): RawPlayerResponse;
  /** The CDN checks that downloads come from the client the URLs were issued to. */
  userAgent: string;
}

/** `cpn` is the client playback nonce the apps send with every playback request. */
const playerRequest = (videoId: string, cpn?: string) => ({
  videoId,
  ...(cpn ? { cpn } : {}),
  contentCheckOk: true,
  racyCheckOk: true,
});

const PLAYER_CLIENTS: readonly PlayerClient[] = [
  {
    name: 'ANDROID',
    // The field mask trims the reel answer to the player response (and to `{}` for unknown ids).
    url: `${MOBILE_API}/reel/reel_item_watch?$fields=playerResponse`,
    body: (videoId, cpn) => ({
      playerRequest: playerRequest(videoId, cpn),
      disablePlayerResponse: false,
      client: 'ANDROID',
    }),
    unwrap: (json) => (json as { playerResponse?: RawPlayerResponse } | null)?.playerResponse ?? {},
    userAgent: Constants.CLIENTS.ANDROID.USER_AGENT,
  },
  {
    name: 'VISIONOS',
    url: `${MOBILE_API}/player`,
    body: (videoId, cpn) => ({ ...playerRequest(videoId, cpn), client: 'VISIONOS' }),
    unwrap: (json) => (json ?? {}) as RawPlayerResponse,
    userAgent: Constants.CLIENTS.VISIONOS.USER_AGENT,
  },
];

/** Failures that another client may not share: bot checks and one client's HTTP errors. */
const CLIENT_SPECIFIC = new Set(['login_required', 'upstream_error']);

export interface PlayerResult {
  /** the first playable response: its videoDetails carry the metadata */
  player: RawPlayerResponse;
  formats: Format[];
}

export async function fetchPlayer(ctx: ExtractContext, videoId: string): Promise<PlayerResult> {
  const cpn = randomBytes(12).toString('base64url');
  let player: RawPlayerResponse | undefined;
  let lastError: unknown;
  const formats = new Map<string, Format>();

  for (const client of PLAYER_CLIENTS) {
    let res: RawPlayerResponse;
    try {
      res = await queryClient(ctx, client, videoId, cpn);
    } catch (err) {
      // Once one client has answered, a later client's failure only costs formats.
      if (!player && !(isAppError(err) && CLIENT_SPECIFIC.has(err.code))) throw err;
      ctx.log.debug({ client: client.name, err: (err as Error).message }, 'youtube: client failed');
      lastError = err;
      continue;
    }
    player ??= res;
    const mapped = mapStreamingData(res.streamingData, {
      isLive: res.videoDetails?.isLive === true,
      headers: { 'User-Agent': client.userAgent },
    });
    for (const f of mapped.formats) if (!formats.has(f.format_id)) formats.set(f.format_id, f);
    ctx.log.debug(
      { client: client.name, direct: mapped.formats.length, skipped: mapped.skipped },
      'youtube: player response',
    );
    if (mapped.formats.length > 0 && mapped.skipped === 0) break;
  }

  if (!player) throw lastError ?? new AppError('upstream_error', 'No YouTube client answered', { video_id: videoId });
  if (formats.size === 0) {
    throw new AppError(
      'upstream_error',
      'YouTube offered no directly downloadable formats (only ciphered or SABR streams)',
      {
        video_id: videoId,
        clients: PLAYER_CLIENTS.map((c) => c.name),
      },
    );
  }
  return { player, formats: [...formats.values()] };
}

/** One client's player response; throws its playability error. */
async function queryClient(
  ctx: ExtractContext,
  client: PlayerClient,
  videoId: string,
  cpn: string,
): Promise<RawPlayerResponse> {
  const res = client.unwrap(await innertubePost(ctx.http, client.url, client.body(videoId, cpn), ctx.signal));
  const error = playabilityError(res, videoId);
  if (error) throw error;
  return res;
}

/**
 * Mobile clients leave out the microformat (upload date, like count), so
 * it is asked from WEB with a field mask. Best effort: failures yield null.
 */
export async function fetchMicroformat(ctx: ExtractContext, videoId: string): Promise<RawMicroformat | null> {
  try {
    const json = (await innertubePost(
      ctx.http,
      `${WEB_API}/player?$fields=microformat`,
      playerRequest(videoId),
      ctx.signal,
    )) as RawPlayerResponse | null;
    return json?.microformat ?? null;
  } catch (err) {
    ctx.log.debug({ err: (err as Error).message }, 'youtube: microformat request failed');
    return null;
  }
}
