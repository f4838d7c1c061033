/**
 * The original project's simple API (/api/info, /api/formats, /api/platforms),
 * kept with its response shapes for existing clients. Errors use the v2 body.
 */
import { Type } from '@sinclair/typebox';
import type { ApiRoutes } from '../app.js';
import { errorResponses } from '../schemas/common.js';
import { UrlParam } from '../schemas/video.js';
import { PLATFORM_DESCRIPTORS } from '../../extract/platforms.js';
import type { VideoInfo } from '../../extract/model.js';

const Nullable = <T extends ReturnType<typeof Type.String> | ReturnType<typeof Type.Number>>(t: T) =>
  Type.Union([t, Type.Null()]);

const LegacyInfo = Type.Object({
  id: Type.String(),
  title: Type.String(),
  description: Nullable(Type.String()),
  duration: Nullable(Type.Number()),
  uploader: Nullable(Type.String()),
  upload_date: Nullable(Type.String({ description: 'YYYYMMDD, as the original API returned it' })),
  view_count: Nullable(Type.Number()),
  like_count: Nullable(Type.Number()),
  thumbnail: Nullable(Type.String()),
});

function legacyInfo(info: VideoInfo) {
  return {
    id: info.id,
    title: info.title,
    description: info.description,
    duration: info.duration,
    uploader: info.uploader,
    upload_date: info.upload_date ? info.upload_date.replaceAll('-', '') : null,
    view_count: info.view_count,
    like_count: info.like_count,
    thumbnail: info.thumbnail_url,
  };
}

/** Quality names the original API offered, derived from the real formats. */
export function legacyQualities(info: VideoInfo): string[] {
  const heights = new Set(info.formats.map((f) => f.height).filter((h): h is number => typeof h === 'number' && h > 0));
  const named = [...heights].sort((a, b) => b - a).map((h) => `${h}p`);
  return info.formats.length ? ['highest', 'lowest', ...named] : [];
}

const ERRORS = errorResponses(400, 402, 403, 404, 409, 410, 429, 451, 502, 504);

export const legacyRoutes: ApiRoutes = async (app, services) => {
  app.get(
    '/api/info',
    {
      schema: {
        tags: ['legacy'],
        summary: 'Video information (original simple API)',
        querystring: Type.Object({ url: UrlParam }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            platform: Type.String(),
            video_id: Type.String(),
            info: LegacyInfo,
            stream_available: Type.Boolean(),
            success: Type.Boolean(),
          }),
          ...ERRORS,
        },
      },
    },
    async (req) => {
      const { info } = await services.extraction.info(req.query.url);
      return {
        platform: info.platform,
        video_id: info.id,
        info: legacyInfo(info),
        stream_available: info.formats.length > 0,
        success: true,
      };
    },
  );

  app.get(
    '/api/formats',
    {
      schema: {
        tags: ['legacy'],
        summary: 'Available qualities (original simple API)',
        querystring: Type.Object({ url: UrlParam }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            platform: Type.String(),
            video_id: Type.String(),
            available_qualities: Type.Array(Type.String()),
            recommended_quality: Type.String(),
            video_info: LegacyInfo,
            success: Type.Boolean(),
          }),
          ...ERRORS,
        },
      },
    },
    async (req) => {
      const { info } = await services.extraction.info(req.query.url);
      return {
        platform: info.platform,
        video_id: info.id,
        available_qualities: legacyQualities(info),
        recommended_quality: 'highest',
        video_info: legacyInfo(info),
        success: true,
      };
    },
  );

  app.get(
    '/api/platforms',
    {
      schema: {
        tags: ['legacy'],
        summary: 'Supported platforms (original simple API)',
        response: {
          200: Type.Object({
            supported_platforms: Type.Array(
              Type.Object({
                name: Type.String(),
                platform_id: Type.String(),
                domains: Type.Array(Type.String()),
                example_urls: Type.Array(Type.String()),
                features: Type.Array(Type.String()),
                notes: Type.Optional(Type.String()),
              }),
            ),
            total_platforms: Type.Number(),
            simple_endpoints: Type.Array(Type.String()),
          }),
        },
      },
    },
    async () => ({
      supported_platforms: PLATFORM_DESCRIPTORS.map((p) => ({
        name: p.name,
        platform_id: p.platform,
        domains: p.domains,
        example_urls: p.url_examples,
        features: Object.entries(p.capabilities)
          .filter(([, on]) => on)
          .map(([k]) => k),
        ...(p.notes ? { notes: p.notes } : {}),
      })),
      total_platforms: PLATFORM_DESCRIPTORS.length,
      simple_endpoints: [
        '/api/info - Get video information',
        '/api/formats - Get available formats',
        '/api/platforms - This endpoint',
      ],
    }),
  );
};
