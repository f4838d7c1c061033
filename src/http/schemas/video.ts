/** JSON schemas of the extraction model (src/extract/model.ts); they validate responses and feed OpenAPI. */
import { Type, type TSchema } from '@sinclair/typebox';
import { PLATFORMS } from '../../extract/model.js';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const PlatformSchema = Type.Union(
  PLATFORMS.map((p) => Type.Literal(p)),
  { $id: 'Platform' },
);

export const FormatSchema = Type.Object(
  {
    format_id: Type.String(),
    kind: Type.Union([Type.Literal('video'), Type.Literal('audio'), Type.Literal('muxed')]),
    ext: Type.String(),
    vcodec: Nullable(Type.String()),
    acodec: Nullable(Type.String()),
    width: Nullable(Type.Number()),
    height: Nullable(Type.Number()),
    fps: Nullable(Type.Number()),
    bitrate: Nullable(Type.Number({ description: 'bits per second' })),
    filesize: Nullable(Type.Number({ description: 'bytes' })),
    filesize_approx: Type.Optional(Type.Boolean()),
    protocol: Type.Union([Type.Literal('https'), Type.Literal('dash'), Type.Literal('hls')]),
    url: Type.String(),
    http_headers: Type.Optional(Type.Record(Type.String(), Type.String())),
    language: Type.Optional(Nullable(Type.String())),
    note: Type.Optional(Type.String()),
  },
  { $id: 'Format' },
);

export const VideoInfoSchema = Type.Object(
  {
    platform: Type.Ref(PlatformSchema),
    id: Type.String(),
    url: Type.String(),
    title: Type.String(),
    description: Nullable(Type.String()),
    duration: Nullable(Type.Number({ description: 'seconds' })),
    uploader: Nullable(Type.String()),
    uploader_id: Nullable(Type.String()),
    upload_date: Nullable(Type.String({ description: 'YYYY-MM-DD' })),
    view_count: Nullable(Type.Number()),
    like_count: Nullable(Type.Number()),
    thumbnail_url: Nullable(Type.String()),
    tags: Type.Array(Type.String()),
    is_live: Type.Boolean(),
    chapters: Type.Optional(
      Type.Array(Type.Object({ title: Type.String(), start_time: Type.Number(), end_time: Type.Number() })),
    ),
    subtitles: Type.Optional(
      Type.Record(
        Type.String(),
        Type.Array(
          Type.Object({
            url: Type.String(),
            ext: Type.String(),
            name: Type.Optional(Type.String()),
            auto: Type.Optional(Type.Boolean()),
          }),
        ),
      ),
    ),
    images: Type.Optional(Type.Array(Type.String())),
    formats: Type.Array(Type.Ref(FormatSchema)),
    extractor: Type.String(),
  },
  { $id: 'VideoInfo' },
);

export const PlaylistSchema = Type.Object(
  {
    platform: Type.Ref(PlatformSchema),
    id: Type.String(),
    title: Nullable(Type.String()),
    uploader: Nullable(Type.String()),
    entries: Type.Array(
      Type.Object({
        id: Type.String(),
        url: Type.String(),
        title: Nullable(Type.String()),
        duration: Nullable(Type.Number()),
      }),
    ),
    next_page: Type.Optional(Nullable(Type.String())),
  },
  { $id: 'Playlist' },
);

/** A user-supplied media page URL. The service checks it further (scheme, 2048 chars, SSRF). */
export const UrlParam = Type.String({ minLength: 1, maxLength: 8192, description: 'Video page URL (http or https)' });
