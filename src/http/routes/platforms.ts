import { Type } from '@sinclair/typebox';
import type { ApiRoutes } from '../app.js';
import { PLATFORM_DESCRIPTORS } from '../../extract/platforms.js';
import { PlatformSchema } from '../schemas/video.js';

export const PlatformDescriptorSchema = Type.Object({
  platform: Type.Ref(PlatformSchema),
  name: Type.String(),
  engine: Type.Union([Type.Literal('native'), Type.Literal('yt-dlp')]),
  domains: Type.Array(Type.String()),
  url_examples: Type.Array(Type.String()),
  capabilities: Type.Object({
    info: Type.Boolean(),
    formats: Type.Boolean(),
    playlists: Type.Boolean(),
    download: Type.Boolean(),
    stream: Type.Boolean(),
  }),
  notes: Type.Optional(Type.String()),
});

export const platformRoutes: ApiRoutes = async (app) => {
  app.get(
    '/api/v2/platforms',
    {
      schema: {
        tags: ['platforms'],
        summary: 'Supported platforms, URL examples and capabilities',
        response: { 200: Type.Object({ platforms: Type.Array(PlatformDescriptorSchema) }) },
      },
    },
    async () => ({ platforms: PLATFORM_DESCRIPTORS }),
  );
};
