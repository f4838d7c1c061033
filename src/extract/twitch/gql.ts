/**
 * Twitch GraphQL (https://gql.twitch.tv/gql) as the logged-out web player
 * uses it. Operations are sent as persisted queries with the names, hashes
 * and variables the web build sends; persisted hashes rotate with Twitch web
 * builds, so each one has a raw-query fallback for PersistedQueryNotFound.
 * Clips always use a raw query (persisted clip hashes were already rejected
 * in 2026).
 */
import { AppError } from '../../errors/app-error.js';
import type { ExtractContext } from '../extractor.js';

export const GQL_URL = 'https://gql.twitch.tv/gql';
/** The public client id of twitch.tv itself, sent by every logged-out browser. */
export const WEB_CLIENT_ID = 'kimne78kx3ncx6brgo4mv6wki5h1ko';

const HASHES = {
  VideoMetadata: '45111672eea2e507f8ba44d101a61862f9c56b11dee09a15634cb75cb9b9084d',
  PlaybackAccessToken: 'ed230aa1e33e07eebb8928504583da78a5173989fadfb1ac94be06a04f3cdbe9',
  StreamMetadata: 'b57f9b910f8cd1a4659d894fe7550ccc81ec9052c01e438b290fd66a040b9b93',
} as const;

type Variables = Record<string, unknown>;

interface RawQuery {
  query: string;
  variables: Variables;
}

interface GqlResponse<T> {
  data?: T | null;
  errors?: { message?: string }[];
}

export interface AccessToken {
  /** JSON string; the signature covers these exact bytes, so it is passed on verbatim. */
  value: string;
  signature: string;
}

export interface GqlVideo {
  id: string;
  title: string | null;
  description: string | null;
  previewThumbnailURL: string | null;
  createdAt: string | null;
  publishedAt?: string | null;
  viewCount: number | null;
  lengthSeconds: number | null;
  broadcastType: string | null;
  owner: { login: string; displayName: string | null } | null;
  game: { name: string | null; displayName?: string | null } | null;
}

export interface GqlClip {
  slug: string;
  title: string | null;
  createdAt: string | null;
  durationSeconds: number | null;
  viewCount: number | null;
  thumbnailURL: string | null;
  broadcaster: { login: string; displayName: string | null } | null;
  game: { name: string | null } | null;
  videoQualities: { quality: string; sourceURL: string; frameRate?: number | null }[] | null;
  playbackAccessToken: AccessToken | null;
}

export interface GqlChannel {
  id: string;
  profileImageURL: string | null;
  lastBroadcast: { id: string | null; title: string | null } | null;
  stream: { id: string; type: string | null; createdAt: string | null; game: { name: string | null } | null } | null;
}

const TOKEN_PARAMS = 'params:{platform:"web",playerBackend:"mediaplayer",playerType:"site"}';

/** Exactly the clip query the web embeds used in 2026 (fixtures match on it byte for byte). */
export const CLIP_QUERY =
  'query($slug:ID!){ clip(slug:$slug){ slug title createdAt durationSeconds viewCount thumbnailURL ' +
  'contentClassificationLabels{id} broadcaster{login displayName profileImageURL(width:150)} curator{login displayName} ' +
  'game{name} videoQualities{quality sourceURL} playbackAccessToken(' +
  TOKEN_PARAMS +
  '){signature value} } }';

export async function videoMetadata(ctx: ExtractContext, videoID: string): Promise<GqlVideo | null> {
  const data = await persisted<{ video: GqlVideo | null }>(
    ctx,
    'VideoMetadata',
    // channelLogin may be empty: the video is found by id alone.
    { channelLogin: '', videoID },
    {
      query:
        'query($id:ID!){ video(id:$id){ id title description previewThumbnailURL createdAt publishedAt viewCount ' +
        'lengthSeconds broadcastType owner{login displayName} game{name displayName} } }',
      variables: { id: videoID },
    },
  );
  return data.video ?? null;
}

export async function vodAccessToken(ctx: ExtractContext, vodID: string): Promise<AccessToken | null> {
  const data = await persisted<{ videoPlaybackAccessToken: AccessToken | null }>(
    ctx,
    'PlaybackAccessToken',
    // playerType as the web build sent it from the channel page (the recorded request); it does not change the token.
    { isLive: false, login: '', isVod: true, vodID, playerType: 'channel_home_carousel', platform: 'web' },
    {
      query: `query($id:ID!){ videoPlaybackAccessToken(id:$id, ${TOKEN_PARAMS}){value signature} }`,
      variables: { id: vodID },
    },
  );
  return data.videoPlaybackAccessToken ?? null;
}

export async function streamAccessToken(ctx: ExtractContext, login: string): Promise<AccessToken | null> {
  const data = await persisted<{ streamPlaybackAccessToken: AccessToken | null }>(
    ctx,
    'PlaybackAccessToken',
    { isLive: true, login, isVod: false, vodID: '', playerType: 'site', platform: 'web' },
    {
      query: `query($login:String!){ streamPlaybackAccessToken(channelName:$login, ${TOKEN_PARAMS}){value signature} }`,
      variables: { login },
    },
  );
  return data.streamPlaybackAccessToken ?? null;
}

export async function streamMetadata(ctx: ExtractContext, channelLogin: string): Promise<GqlChannel | null> {
  const data = await persisted<{ user: GqlChannel | null }>(
    ctx,
    'StreamMetadata',
    { channelLogin, includeIsDJ: true },
    {
      query:
        'query($login:String!){ user(login:$login){ id profileImageURL(width:300) lastBroadcast{id title} ' +
        'stream{id type createdAt game{name}} } }',
      variables: { login: channelLogin },
    },
  );
  return data.user ?? null;
}

export async function clipInfo(ctx: ExtractContext, slug: string): Promise<GqlClip | null> {
  const data = await raw<{ clip: GqlClip | null }>(ctx, { query: CLIP_QUERY, variables: { slug } });
  return data.clip ?? null;
}

async function persisted<T>(
  ctx: ExtractContext,
  operationName: keyof typeof HASHES,
  variables: Variables,
  fallback: RawQuery,
): Promise<T> {
  const res = await post<T>(ctx, {
    operationName,
    variables,
    extensions: { persistedQuery: { version: 1, sha256Hash: HASHES[operationName] } },
  });
  if (res.errors?.some((e) => e.message === 'PersistedQueryNotFound')) {
    ctx.log.warn({ operationName }, 'twitch persisted query rejected; retrying as a raw query');
    return raw<T>(ctx, fallback);
  }
  return unwrap(res, operationName);
}

async function raw<T>(ctx: ExtractContext, query: RawQuery): Promise<T> {
  return unwrap(await post<T>(ctx, query), 'raw query');
}

async function post<T>(ctx: ExtractContext, body: unknown): Promise<GqlResponse<T>> {
  return ctx.http.json<GqlResponse<T>>(GQL_URL, {
    method: 'POST',
    headers: { 'Client-Id': WEB_CLIENT_ID, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
}

/** Unknown ids come back as null fields with no errors; errors without data mean the query itself failed. */
function unwrap<T>(res: GqlResponse<T>, what: string): T {
  if (res.data) return res.data;
  const messages = (res.errors ?? []).map((e) => e.message ?? '?');
  throw new AppError('upstream_error', `Twitch GraphQL ${what} failed`, { errors: messages });
}
