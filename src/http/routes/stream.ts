/**
 * Streaming for players (VRChat and friends issue a plain GET): a redirect to
 * a playable URL, a proxy that relays (Range included) or remuxes DASH on the
 * fly, stream information, an embeddable page, and the original API's
 * /api/stream and /api/download. The logic lives in delivery/stream-proxy.ts.
 */
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiRoutes } from '../app.js';
import type { Services } from '../../app/services.js';
import { AppError, errorBody } from '../../errors/app-error.js';
import type { Platform, VideoInfo } from '../../extract/model.js';
import { urlForId } from '../../extract/registry.js';
import { assertPublicUrl, parseUserUrl } from '../../infra/http-client/ssrf-guard.js';
import {
  chooseStream,
  contentTypeFor,
  directPath,
  EMBED_CSP,
  embedHtml,
  embedPath,
  normalizeQuality,
  openUpstream,
  proxyPath,
  QUALITY_PATTERN,
  RELAYED_HEADERS,
  startRemux,
  streamFilename,
  type StreamAddress,
  type StreamPlan,
} from '../../delivery/stream-proxy.js';
import { contentDisposition } from '../content-disposition.js';
import { errorResponses } from '../schemas/common.js';
import { FormatSchema, PlatformSchema, UrlParam } from '../schemas/video.js';
import { withQueryToken } from '../plugins/auth.js';

const ERRORS = errorResponses(400, 402, 403, 404, 409, 410, 429, 451, 500, 502, 504);
const IdParam = Type.String({ minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9_.-]+$' });
const Params = Type.Object({ platform: Type.Ref(PlatformSchema), video_id: IdParam });
const Quality = Type.Optional(
  Type.String({
    pattern: QUALITY_PATTERN,
    default: 'best',
    description: 'best, worst, or the highest picture at or below 2160…144 (`720` or `720p`)',
  }),
);
const Download = Type.Optional(Type.Boolean({ description: 'Send Content-Disposition: attachment', default: false }));
const Filename = Type.Optional(
  Type.String({
    minLength: 1,
    maxLength: 255,
    description: 'Download name (placeholders as in filename_template); the extension is set by the stream',
  }),
);
const Redirect = Type.Null({ description: 'Redirect: the Location header has the stream URL' });
const Media = (what: string) => Type.Any({ description: what });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

const StreamInfo = Type.Object({
  platform: Type.Ref(PlatformSchema),
  video_id: Type.String(),
  title: Type.String(),
  duration: Type.Union([Type.Number(), Type.Null()]),
  quality: Type.String({ description: 'The normalized quality' }),
  mode: Type.Union([Type.Literal('relay'), Type.Literal('remux')], {
    description: 'relay: one format passed through (Range supported); remux: ffmpeg joins streams into fragmented MP4',
  }),
  formats: Type.Array(Type.Ref(FormatSchema), { description: 'What the proxy streams' }),
  direct_format: Type.Union([Type.Ref(FormatSchema), Type.Null()], {
    description: 'The single-URL format for players (muxed or HLS), if any',
  }),
  direct_url: Nullable(Type.String({ description: 'The URL of direct_format' })),
  direct_usable: Type.Boolean({ description: 'direct_url plays as is (no remux, no special headers)' }),
  play_url: Type.String({ description: 'Where /stream/direct redirects: direct_url when usable, else proxy_url' }),
  proxy_url: Type.String(),
  embed_url: Nullable(Type.String()),
  reason: Type.Array(Type.String()),
});

interface ProxyQuery {
  quality?: string;
  download?: boolean;
  filename?: string;
}

export const streamRoutes: ApiRoutes = async (app, services) => {
  const extraction = services.extraction;
  const byId = async (platform: string, id: string) => (await extraction.infoById(platform as Platform, id)).info;

  app.get(
    '/api/v2/stream/direct/:platform/:video_id',
    {
      schema: {
        tags: ['stream'],
        summary: 'Redirect to a directly playable URL (audio and video in one), or to the proxy',
        params: Params,
        querystring: Type.Object({ quality: Quality }, { additionalProperties: false }),
        response: { 302: Redirect, ...ERRORS },
      },
    },
    async (req, reply) => {
      const info = await byId(req.params.platform, req.params.video_id);
      return redirect(reply, await playUrl(req, services, info, normalizeQuality(req.query.quality)));
    },
  );

  app.get(
    '/api/v2/stream/proxy/:platform/:video_id',
    {
      schema: {
        tags: ['stream'],
        summary: 'The media through this server (Range supported; DASH video + audio remuxed to fragmented MP4)',
        params: Params,
        querystring: Type.Object(
          { quality: Quality, download: Download, filename: Filename },
          { additionalProperties: false },
        ),
        response: {
          200: Media('The media bytes'),
          206: Media('A byte range (relay mode only)'),
          ...errorResponses(416),
          ...ERRORS,
        },
      },
    },
    async (req, reply) =>
      serveProxy(req, reply, services, await byId(req.params.platform, req.params.video_id), req.query),
  );

  app.get(
    '/api/v2/stream/proxy',
    {
      schema: {
        tags: ['stream'],
        summary: 'The proxy for any page URL (sites without stable ids)',
        querystring: Type.Object(
          { url: UrlParam, quality: Quality, download: Download, filename: Filename },
          { additionalProperties: false },
        ),
        response: {
          200: Media('The media bytes'),
          206: Media('A byte range (relay mode only)'),
          ...errorResponses(416),
          ...ERRORS,
        },
      },
    },
    async (req, reply) => serveProxy(req, reply, services, (await extraction.info(req.query.url)).info, req.query),
  );

  app.get(
    '/api/v2/stream/info/:platform/:video_id',
    {
      schema: {
        tags: ['stream'],
        summary: 'The formats a stream uses and its URLs',
        params: Params,
        querystring: Type.Object({ quality: Quality }, { additionalProperties: false }),
        response: { 200: StreamInfo, ...ERRORS },
      },
    },
    async (req) => {
      const info = await byId(req.params.platform, req.params.video_id);
      const quality = normalizeQuality(req.query.quality);
      const plan = chooseStream(info, quality);
      const addr = addressOf(info);
      const base = origin(req);
      const proxyUrl = base + proxyPath(addr, quality);
      return {
        platform: info.platform,
        video_id: info.id,
        title: info.title,
        duration: info.duration,
        quality,
        mode: plan.proxy.mode,
        formats: plan.proxy.formats,
        direct_format: plan.direct.format,
        direct_url: plan.direct.format?.url ?? null,
        direct_usable: plan.direct.usable,
        play_url: plan.direct.usable && plan.direct.format ? plan.direct.format.url : proxyUrl,
        proxy_url: proxyUrl,
        embed_url: addr.url ? null : base + embedPath(addr, quality),
        reason: [...new Set([...plan.proxy.reason, ...plan.direct.reason])],
      };
    },
  );

  app.get(
    '/api/v2/stream/url',
    {
      schema: {
        tags: ['stream'],
        summary: 'Any page URL → redirect to /stream/direct (sites without ids: straight to the media)',
        querystring: Type.Object({ url: UrlParam, quality: Quality }, { additionalProperties: false }),
        response: { 302: Redirect, ...ERRORS },
      },
    },
    async (req, reply) =>
      redirect(reply, await urlRedirect(req, services, req.query.url, normalizeQuality(req.query.quality))),
  );

  app.get(
    '/api/v2/stream/embed/:platform/:video_id',
    {
      schema: {
        tags: ['stream'],
        summary: 'A minimal HTML player page for the proxied stream',
        params: Params,
        querystring: Type.Object({ quality: Quality }, { additionalProperties: false }),
        response: { 200: Type.String({ description: 'text/html' }), ...ERRORS },
      },
    },
    async (req, reply) => {
      const info = await byId(req.params.platform, req.params.video_id);
      const quality = normalizeQuality(req.query.quality);
      chooseStream(info, quality); // 404 now rather than a page with a dead player
      return reply
        .header('content-security-policy', EMBED_CSP)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .type('text/html; charset=utf-8')
        .send(embedHtml(info.title, withQueryToken(req, proxyPath(addressOf(info), quality))));
    },
  );

  app.get(
    '/api/stream',
    {
      schema: {
        tags: ['legacy'],
        summary: 'Stream a video (original simple API): redirect, proxy or JSON',
        querystring: Type.Object(
          {
            url: UrlParam,
            quality: Quality,
            format: Type.Optional(
              Type.Union([Type.Literal('redirect'), Type.Literal('proxy'), Type.Literal('json')], {
                default: 'redirect',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            platform: Type.String(),
            video_id: Type.String(),
            stream_url: Type.String(),
            quality: Type.String(),
            success: Type.Boolean(),
          }),
          302: Redirect,
          ...ERRORS,
        },
      },
    },
    async (req, reply) => {
      const { url, format = 'redirect' } = req.query;
      const quality = normalizeQuality(req.query.quality);
      if (format === 'redirect') return redirect(reply, await urlRedirect(req, services, url, quality));
      if (format === 'proxy')
        return redirect(reply, origin(req) + proxyPath(await resolveAddress(services, url), quality));
      const { info } = await extraction.info(url);
      return {
        platform: info.platform,
        video_id: info.id,
        stream_url: await playUrl(req, services, info, quality),
        quality: req.query.quality ?? 'best',
        success: true,
      };
    },
  );

  app.get(
    '/api/download',
    {
      schema: {
        tags: ['legacy'],
        summary: 'Download a video through the proxy (original simple API)',
        querystring: Type.Object(
          { url: UrlParam, quality: Quality, filename: Filename },
          { additionalProperties: false },
        ),
        response: { 302: Redirect, ...ERRORS },
      },
    },
    async (req, reply) => {
      const quality = normalizeQuality(req.query.quality);
      const addr = await resolveAddress(services, req.query.url);
      return redirect(
        reply,
        origin(req) +
          proxyPath(addr, quality, { download: true, ...(req.query.filename ? { filename: req.query.filename } : {}) }),
      );
    },
  );
};

// ---------------------------------------------------------------------------

/** Fastify's HEAD handling keeps our Content-Length only for a stream payload (undefined → 0). */
const emptyBody = () => Readable.from([]);

function origin(req: FastifyRequest): string {
  return `${req.protocol}://${req.host}`;
}

function redirect(reply: FastifyReply, location: string) {
  // Signed media URLs expire: nobody should keep the redirect.
  return reply.header('cache-control', 'no-store').redirect(withQueryToken(reply.request, location), 302);
}

/** By platform and id when the id alone leads back to the same page; otherwise by URL. */
function addressFor(platform: Platform, id: string, url: string): StreamAddress {
  const addressable = platform !== 'generic' && urlForId(platform, id) === url;
  return addressable ? { platform, id } : { platform, id, url };
}

const addressOf = (info: VideoInfo) => addressFor(info.platform, info.id, info.url);

async function resolveAddress(services: Services, url: string): Promise<StreamAddress> {
  const { target } = await services.extraction.resolve(url);
  if (target.kind === 'playlist')
    throw new AppError('unsupported_url', 'Playlists cannot be streamed', { url: target.url });
  return addressFor(target.platform, target.id, target.url);
}

/** Where a player should go: the format URL when it plays as is (after the SSRF check), else the proxy. */
async function playUrl(req: FastifyRequest, services: Services, info: VideoInfo, quality: string): Promise<string> {
  const plan: StreamPlan = chooseStream(info, normalizeQuality(quality));
  const f = plan.direct.format;
  if (f && plan.direct.usable) {
    if (info.platform === 'generic') await assertPublicUrl(parseUserUrl(f.url), services.config.allowPrivateAddresses);
    return f.url;
  }
  return origin(req) + proxyPath(addressOf(info), quality);
}

/** /stream/url: platform videos go to /stream/direct (no extraction here); others are extracted now. */
async function urlRedirect(req: FastifyRequest, services: Services, url: string, quality: string): Promise<string> {
  const addr = await resolveAddress(services, url);
  if (!addr.url) return origin(req) + directPath(addr, quality);
  const { info } = await services.extraction.info(url);
  return playUrl(req, services, info, quality);
}

async function serveProxy(
  req: FastifyRequest,
  reply: FastifyReply,
  services: Services,
  info: VideoInfo,
  q: ProxyQuery,
) {
  const quality = normalizeQuality(q.quality);
  const plan = chooseStream(info, quality);
  const guard = info.platform === 'generic';
  const formats = plan.proxy.formats;
  const head = req.method === 'HEAD';

  // The client going away stops the upstream request or ffmpeg.
  const client = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) client.abort();
  });

  reply.header('x-stream-formats', formats.map((f) => f.format_id).join('+')).header('x-stream-mode', plan.proxy.mode);
  const disposition = (ext: string) => {
    if (q.download) reply.header('content-disposition', contentDisposition(streamFilename(info, q.filename, ext)));
  };

  if (plan.proxy.mode === 'remux') {
    // ffmpeg first: a failure to open the inputs is a JSON error without media headers.
    const body = head
      ? emptyBody()
      : (
          await startRemux({
            formats,
            ffmpegPath: services.config.ffmpegPath,
            upstreamRewrite: services.http.upstreamRewrite,
            guard,
            allowPrivateAddresses: services.config.allowPrivateAddresses,
            signal: client.signal,
            ioTimeoutMs: services.config.upstreamTimeoutMs,
          })
        ).stream;
    reply.header('accept-ranges', 'none').type('video/mp4');
    disposition('mp4');
    return reply.status(200).send(body);
  }

  const f = formats[0]!;
  const range = req.headers.range;
  const ifRange = [req.headers['if-range']].flat()[0];
  const up = await openUpstream(services.http, f, {
    method: head ? 'HEAD' : 'GET',
    range,
    ifRange,
    guard,
    signal: client.signal,
    headersTimeoutMs: services.config.upstreamTimeoutMs,
  });
  if (up.status === 416) {
    up.body?.destroy();
    reply.removeHeader('x-stream-formats');
    const cr = up.headers.get('content-range');
    if (cr) reply.header('content-range', cr);
    return reply
      .status(416)
      .type('application/json; charset=utf-8')
      .send(errorBody('range_not_satisfiable', 'Range not satisfiable', { range }));
  }
  for (const h of RELAYED_HEADERS) {
    const v = up.headers.get(h);
    if (v) reply.header(h, v);
  }
  if (up.headers.get('content-encoding')) reply.removeHeader('content-length');
  const type = up.headers.get('content-type');
  reply.type(type && !/^(application\/octet-stream|binary\/octet-stream)\b/i.test(type) ? type : contentTypeFor(f));
  disposition(f.ext || 'mp4');
  reply.status(up.status === 206 ? 206 : 200);
  if (!up.body) return reply.send(emptyBody());
  up.body.on('error', () => undefined); // a cut upstream or a gone client; Fastify ends the response
  return reply.send(up.body);
}
