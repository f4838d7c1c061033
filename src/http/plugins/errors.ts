/**
 * One error body everywhere: {"error":{"code","message","details"}}. Maps
 * Fastify's own errors (validation, body limit, media type, bad JSON) to
 * stable codes, answers 405 for known paths with the wrong method, and never
 * leaks a stack trace.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import FindMyWay from 'find-my-way';
import { AppError, errorBody } from '../../errors/app-error.js';

const FASTIFY_CODES: Record<string, [number, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'payload_too_large'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'bad_request'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'invalid_json'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'invalid_json'],
};

const STATUS_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  406: 'not_acceptable',
  408: 'request_timeout',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  431: 'headers_too_large',
  503: 'not_ready',
};

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

interface ValidationIssue {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

function validationDetails(err: FastifyError): { location: string; issues: { path: string; message: string }[] } {
  const issues = ((err.validation ?? []) as ValidationIssue[]).map((v) => {
    const extra = v.params?.additionalProperty ?? v.params?.missingProperty;
    const path = `${v.instancePath ?? ''}${extra ? `/${String(extra)}` : ''}` || '/';
    return { path, message: v.message ?? 'is invalid' };
  });
  return { location: err.validationContext ?? 'request', issues };
}

/** Seconds a 429's details say to wait (login throttle: retry_after, platform budget: retry_after_s). */
function retryAfterOf(details: unknown): number | undefined {
  if (!details || typeof details !== 'object') return undefined;
  const d = details as { retry_after?: unknown; retry_after_s?: unknown };
  const s = d.retry_after ?? d.retry_after_s;
  return typeof s === 'number' && Number.isFinite(s) && s >= 0 ? Math.ceil(s) : undefined;
}

export function registerErrorHandling(app: FastifyInstance): void {
  // A shadow router of every registered route, used only to tell 405 from 404.
  const shadow = FindMyWay();
  app.addHook('onRoute', (route) => {
    // The CORS preflight catch-all (OPTIONS *) would make every unknown path look routed (405, not 404).
    if (route.url === '*') return;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const m of methods) {
      try {
        shadow.on(m as 'GET', route.url, () => {});
      } catch {
        /* duplicates (HEAD auto-routes) are fine */
      }
    }
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof AppError) {
      if (err.statusCode >= 500) request.log.warn({ code: err.code, details: err.details }, err.message);
      if (err.statusCode === 429 && !reply.hasHeader('retry-after')) {
        const seconds = retryAfterOf(err.details);
        if (seconds !== undefined) reply.header('retry-after', String(seconds));
      }
      return reply.status(err.statusCode).send(err.toBody());
    }
    if (err.validation) {
      return reply
        .status(400)
        .send(
          errorBody(
            'validation_failed',
            `Invalid ${err.validationContext ?? 'request'}: ${err.message}`,
            validationDetails(err),
          ),
        );
    }
    const mapped = err.code ? FASTIFY_CODES[err.code] : undefined;
    if (mapped) {
      const [status, code] = mapped;
      const message = code === 'invalid_json' ? 'Request body is not valid JSON' : err.message;
      return reply.status(status).send(errorBody(code, message));
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return reply.status(status).send(errorBody(STATUS_CODES[status] ?? 'bad_request', err.message));
    }
    request.log.error({ err }, 'unhandled error');
    return reply.status(500).send(errorBody('internal_error', 'Internal server error'));
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const allowed = METHODS.filter((m) => shadow.find(m, path));
    if (allowed.length > 0) {
      return reply
        .status(405)
        .header('allow', allowed.join(', '))
        .send(errorBody('method_not_allowed', `${request.method} is not allowed here`, { allow: allowed }));
    }
    return reply.status(404).send(errorBody('not_found', `No route for ${request.method} ${path}`));
  });
}
