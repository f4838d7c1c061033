/**
 * Authentication and authorization for every request, before anything else
 * runs: credentials (Bearer access token or API key, X-API-Key, or
 * `?access_token=` where the route allows it) become `request.principal`,
 * then the route's policy (accounts/policy.ts) admits or refuses the call.
 * Bad credentials on a guarded route are a 401, never a silent anonymous.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../../errors/app-error.js';
import type { Services } from '../../app/services.js';
import { accountsDeps } from '../../accounts/index.js';
import { authorize, policyFor } from '../../accounts/policy.js';
import type { Principal } from '../../accounts/principal.js';
import { looksLikeApiKey, principalFromApiKey } from '../../accounts/api-keys.js';
import { principalFromAccessToken } from '../../accounts/sessions.js';
import { audit } from '../../accounts/audit.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
    /** The credential when it came as `?access_token=`: links this request hands out (redirects, embed pages) carry it on. */
    queryToken: string | null;
  }
}

const MAX_CREDENTIAL_LENGTH = 4096;

function credentialOf(req: FastifyRequest, queryToken: boolean): string | null {
  req.queryToken = null;
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth !== '') {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(auth);
    if (!m) throw new AppError('unauthorized', 'Authorization must be "Bearer <token>"');
    return m[1]!;
  }
  const key = req.headers['x-api-key'];
  if (typeof key === 'string' && key !== '') return key.trim();
  if (queryToken && (req.method === 'GET' || req.method === 'HEAD')) {
    const q = (req.query as Record<string, unknown> | undefined)?.access_token;
    if (typeof q === 'string' && q !== '') {
      req.queryToken = q;
      return q;
    }
  }
  return null;
}

export function registerAuth(app: FastifyInstance, services: Services): void {
  const deps = accountsDeps(services);
  app.decorateRequest('principal', null);
  app.decorateRequest('queryToken', null);

  app.addHook('onRequest', async (req, reply) => {
    const url = req.routeOptions.url;
    if (url === undefined) return; // no such route: the 404/405 handler answers
    const policy = policyFor(req.method, url);
    const hidden = Boolean((req.routeOptions.schema as { hide?: boolean } | undefined)?.hide);
    if (!policy && !(hidden && url.startsWith('/docs'))) {
      throw new AppError('internal_error', 'This route has no access policy');
    }
    const rule = policy?.rule ?? 'public';
    let credential: string | null;
    try {
      credential = credentialOf(req, policy?.queryToken ?? false);
      if (credential && credential.length > MAX_CREDENTIAL_LENGTH) {
        throw new AppError('unauthorized', 'Credential too long');
      }
      if (credential) {
        req.principal = looksLikeApiKey(credential)
          ? await principalFromApiKey(deps, credential)
          : await principalFromAccessToken(deps, credential);
      }
    } catch (err) {
      // A stale token (or a database that is down) must not lock anyone out of sign-in or health checks.
      if (rule === 'public') req.principal = null;
      else {
        if (err instanceof AppError && err.code === 'unauthorized')
          reply.header('www-authenticate', 'Bearer realm="ytbh"');
        throw err;
      }
    }
    try {
      authorize(rule, req.principal);
    } catch (err) {
      if (err instanceof AppError && err.code === 'unauthorized')
        reply.header('www-authenticate', 'Bearer realm="ytbh"');
      if (err instanceof AppError && err.code === 'forbidden' && req.principal) {
        await audit(deps.db, {
          actorId: req.principal.user.id,
          action: 'authz.denied',
          targetType: 'route',
          targetId: `${req.method} ${url}`,
          ip: req.ip,
          details: { reason: err.message },
        }).catch((e: unknown) => req.log.warn({ err: e }, 'audit write failed'));
      }
      throw err;
    }
  });

  // The token is not a parameter of the route: drop it before strict query validation.
  app.addHook('preValidation', async (req) => {
    const q = req.query as Record<string, unknown> | undefined;
    if (q && typeof q === 'object' && 'access_token' in q) delete q.access_token;
  });
}

/** A same-origin link handed out by this request, with the query credential carried on when there was one. */
export function withQueryToken(req: FastifyRequest, link: string): string {
  if (!req.queryToken) return link;
  const u = new URL(link, `${req.protocol}://${req.host}`);
  if (u.host !== req.host) return link;
  u.searchParams.set('access_token', req.queryToken);
  return /^https?:/.test(link) ? u.toString() : `${u.pathname}${u.search}`;
}
