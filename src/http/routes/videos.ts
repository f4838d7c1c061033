/** Video and playlist information: thin wrappers over the extraction service. */
import { Type } from '@sinclair/typebox';
import type { ApiRoutes } from '../app.js';
import { errorResponses } from '../schemas/common.js';
import { FormatSchema, PlatformSchema, PlaylistSchema, UrlParam, VideoInfoSchema } from '../schemas/video.js';
import type { Platform } from '../../extract/model.js';

const EXTRACT_ERRORS = errorResponses(400, 402, 403, 404, 409, 410, 429, 451, 502, 504);
const Refresh = Type.Optional(Type.Boolean({ description: 'Skip the cache and extract again', default: false }));
const Page = Type.Optional(
  Type.String({ maxLength: 64, pattern: '^[A-Za-z0-9_.:=-]*$', description: 'Page token from next_page' }),
);
const IdParam = Type.String({ minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9_.-]+$' });

const FormatsResponse = Type.Object({
  platform: Type.Ref(PlatformSchema),
  id: Type.String(),
  title: Type.String(),
  duration: Type.Union([Type.Number(), Type.Null()]),
  formats: Type.Array(Type.Ref(FormatSchema)),
});

export const videoRoutes: ApiRoutes = async (app, services) => {
  const extraction = services.extraction;

  app.get(
    '/api/v2/videos/info',
    {
      schema: {
        tags: ['videos'],
        summary: 'Video information and formats for any supported URL',
        querystring: Type.Object({ url: UrlParam, refresh: Refresh }, { additionalProperties: false }),
        response: { 200: Type.Ref(VideoInfoSchema), ...EXTRACT_ERRORS },
      },
    },
    async (req, reply) => {
      const { info, cached } = await extraction.info(req.query.url, { refresh: req.query.refresh === true });
      reply.header('x-cache', cached ? 'hit' : 'miss');
      return info;
    },
  );

  app.post(
    '/api/v2/videos/info',
    {
      schema: {
        tags: ['videos'],
        summary: 'Video information (URL in a JSON body)',
        body: Type.Object({ url: UrlParam, refresh: Refresh }, { additionalProperties: false }),
        response: { 200: Type.Ref(VideoInfoSchema), ...errorResponses(413, 415), ...EXTRACT_ERRORS },
      },
    },
    async (req, reply) => {
      const { info, cached } = await extraction.info(req.body.url, { refresh: req.body.refresh === true });
      reply.header('x-cache', cached ? 'hit' : 'miss');
      return info;
    },
  );

  app.get(
    '/api/v2/videos/formats',
    {
      schema: {
        tags: ['videos'],
        summary: 'Only the formats of a video',
        querystring: Type.Object({ url: UrlParam, refresh: Refresh }, { additionalProperties: false }),
        response: { 200: FormatsResponse, ...EXTRACT_ERRORS },
      },
    },
    async (req) => {
      const { info } = await extraction.info(req.query.url, { refresh: req.query.refresh === true });
      return {
        platform: info.platform,
        id: info.id,
        title: info.title,
        duration: info.duration,
        formats: info.formats,
      };
    },
  );

  app.get(
    '/api/v2/videos/:platform/:video_id',
    {
      schema: {
        tags: ['videos'],
        summary: 'Video information by platform and id',
        params: Type.Object({ platform: Type.Ref(PlatformSchema), video_id: IdParam }),
        querystring: Type.Object({ refresh: Refresh }, { additionalProperties: false }),
        response: { 200: Type.Ref(VideoInfoSchema), ...EXTRACT_ERRORS },
      },
    },
    async (req, reply) => {
      const { info, cached } = await extraction.infoById(req.params.platform as Platform, req.params.video_id, {
        refresh: req.query.refresh === true,
      });
      reply.header('x-cache', cached ? 'hit' : 'miss');
      return info;
    },
  );

  app.get(
    '/api/v2/playlists/info',
    {
      schema: {
        tags: ['playlists'],
        summary: 'Playlist entries, one page at a time',
        querystring: Type.Object({ url: UrlParam, page: Page }, { additionalProperties: false }),
        response: { 200: Type.Ref(PlaylistSchema), ...EXTRACT_ERRORS },
      },
    },
    async (req) => extraction.playlist(req.query.url, req.query.page || undefined),
  );

  app.get(
    '/api/v2/playlists/:platform/:playlist_id',
    {
      schema: {
        tags: ['playlists'],
        summary: 'Playlist by platform and id',
        params: Type.Object({ platform: Type.Ref(PlatformSchema), playlist_id: IdParam }),
        querystring: Type.Object({ page: Page }, { additionalProperties: false }),
        response: { 200: Type.Ref(PlaylistSchema), ...EXTRACT_ERRORS },
      },
    },
    async (req) =>
      extraction.playlistById(req.params.platform as Platform, req.params.playlist_id, req.query.page || undefined),
  );
};
