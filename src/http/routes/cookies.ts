/** Platform cookies (admins): upload a Netscape cookie file per platform, see its status, delete it. */
import { Type } from '@sinclair/typebox';
import type { ApiRoutes } from '../app.js';
import { audit } from '../../accounts/audit.js';
import { AppError } from '../../errors/app-error.js';
import type { Platform } from '../../extract/model.js';
import { MAX_COOKIE_FILE_BYTES } from '../../extract/cookies/netscape.js';
import { errorResponses } from '../schemas/common.js';
import { PlatformSchema } from '../schemas/video.js';

const Params = Type.Object({ platform: Type.Ref(PlatformSchema) });

const CookieStatusSchema = Type.Object(
  {
    platform: Type.Ref(PlatformSchema),
    present: Type.Boolean(),
    cookie_count: Type.Integer(),
    domains: Type.Array(Type.String()),
    earliest_expiry: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    updated_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    updated_by: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  },
  { description: 'What is stored for a platform; cookie values are never shown' },
);

const Body = Type.Object(
  {
    cookies: Type.String({
      minLength: 1,
      maxLength: MAX_COOKIE_FILE_BYTES,
      description: 'The Netscape cookie file (cookies.txt) as text',
    }),
  },
  { additionalProperties: false },
);

/** JSON escapes every tab and newline of the file, so the body may be up to about twice the file. */
const BODY_LIMIT = 2 * MAX_COOKIE_FILE_BYTES + 64 * 1024;

export const cookieRoutes: ApiRoutes = async (app, services) => {
  const db = services.database.db;
  const store = services.cookies;

  app.get(
    '/api/v2/platforms/:platform/cookies',
    {
      schema: {
        tags: ['platforms'],
        summary: 'Whether cookies are stored for a platform, how many, for which domains (admins)',
        params: Params,
        response: { 200: CookieStatusSchema, ...errorResponses(400, 401, 403, 500) },
      },
    },
    async (req) => store.status(req.params.platform as Platform),
  );

  app.put(
    '/api/v2/platforms/:platform/cookies',
    {
      bodyLimit: BODY_LIMIT,
      schema: {
        tags: ['platforms'],
        summary: 'Store a Netscape cookie file for a platform (admins); replaces what was there',
        description:
          'Encrypted at rest. Extraction for the platform then sends each request the cookies that match its ' +
          'host, path and scheme, and yt-dlp gets them as a temporary --cookies file.',
        params: Params,
        body: Body,
        response: { 200: CookieStatusSchema, ...errorResponses(400, 401, 403, 413, 415) },
      },
    },
    async (req) => {
      const platform = req.params.platform as Platform;
      const actor = req.principal!.user.id;
      const status = await store.save(platform, req.body.cookies, actor);
      await audit(db, {
        actorId: actor,
        action: 'admin.cookies_set',
        targetType: 'platform_cookies',
        targetId: platform,
        ip: req.ip,
        details: { cookie_count: status.cookie_count, domains: status.domains.slice(0, 50) },
      });
      return status;
    },
  );

  app.delete(
    '/api/v2/platforms/:platform/cookies',
    {
      schema: {
        tags: ['platforms'],
        summary: "Delete a platform's cookies (admins)",
        params: Params,
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      const platform = req.params.platform as Platform;
      if (!(await store.remove(platform))) {
        throw new AppError('not_found', `No cookies are stored for ${platform}`, { platform });
      }
      await audit(db, {
        actorId: req.principal!.user.id,
        action: 'admin.cookies_deleted',
        targetType: 'platform_cookies',
        targetId: platform,
        ip: req.ip,
      });
      return reply.status(204).send(null);
    },
  );
};
