/**
 * Who may call what: one table over every route of the API, and one function
 * that answers "may this caller do this". A route missing from the table is
 * refused (500) and fails the access-matrix test, so none can slip through
 * unguarded. Ownership (a user sees only their own tasks, files and keys) is
 * enforced by the domain queries, which answer 404 for other users' ids.
 *
 * Rules:
 * - public:   anyone, signed in or not
 * - read:     any signed-in user (guests too); API keys need the `read` scope
 * - download: users and admins (not guests); keys need `download`
 * - account:  any signed-in user, with any credential (their own account)
 * - session:  a signed-in user with a session from login, not an API key
 *             (changing the password or minting keys with a leaked key must not work)
 * - admin:    admins; keys need `admin`
 */
import { AppError } from '../errors/app-error.js';
import type { Principal, Scope } from './principal.js';

export type Rule = 'public' | 'read' | 'download' | 'account' | 'session' | 'admin';

export interface RoutePolicy {
  rule: Rule;
  /**
   * The access token may come as `?access_token=` (GET only): browsers cannot
   * set headers on <video src>, EventSource or WebSocket.
   */
  queryToken?: boolean;
}

const r = (rule: Rule, queryToken = false): RoutePolicy => ({ rule, ...(queryToken ? { queryToken } : {}) });

/** Keyed by `METHOD url-template`; HEAD follows GET. */
export const ROUTE_POLICY: Record<string, RoutePolicy> = {
  // system
  'GET /api/v2/system/health': r('public'),
  'GET /api/v2/system/ready': r('public'),
  'GET /api/v2/system/info': r('read'),
  'GET /metrics': r('public'),
  'GET /api/v2/openapi.json': r('public'),
  // web dashboard (src/http/plugins/web.ts): static files and the SPA's pages
  'GET /': r('public'),
  'GET /setup': r('public'),
  'GET /login': r('public'),
  'GET /register': r('public'),
  'GET /queue': r('public'),
  'GET /library': r('public'),
  'GET /settings': r('public'),
  'GET /admin': r('public'),
  'GET /manifest.webmanifest': r('public'),
  'GET /sw.js': r('public'),
  'GET /assets/:file': r('public'),
  'GET /icons/:file': r('public'),
  // CORS preflight (@fastify/cors, only when CORS_ORIGINS is set): browsers send it without credentials
  'OPTIONS *': r('public'),
  // auth and account
  'GET /api/v2/auth/status': r('public'),
  'POST /api/v2/auth/register': r('public'),
  'POST /api/v2/auth/login': r('public'),
  'POST /api/v2/auth/refresh': r('public'),
  // An API key has no session to end: the handler refuses keys, so the table must say so too.
  'POST /api/v2/auth/logout': r('session'),
  'GET /api/v2/users/me': r('account'),
  'PATCH /api/v2/users/me': r('session'),
  'POST /api/v2/users/me/password': r('session'),
  'GET /api/v2/users/me/quota': r('account'),
  'GET /api/v2/users/me/preferences': r('account'),
  'PUT /api/v2/users/me/preferences': r('session'),
  'GET /api/v2/users/me/api-keys': r('session'),
  'POST /api/v2/users/me/api-keys': r('session'),
  'DELETE /api/v2/users/me/api-keys/:id': r('session'),
  // admin
  'GET /api/v2/admin/users': r('admin'),
  'POST /api/v2/admin/users': r('admin'),
  'GET /api/v2/admin/users/:id': r('admin'),
  'PATCH /api/v2/admin/users/:id': r('admin'),
  'PUT /api/v2/admin/users/:id/quota': r('admin'),
  'DELETE /api/v2/admin/users/:id/sessions': r('admin'),
  'GET /api/v2/admin/users/:id/api-keys': r('admin'),
  'DELETE /api/v2/admin/api-keys/:id': r('admin'),
  'GET /api/v2/admin/invites': r('admin'),
  'POST /api/v2/admin/invites': r('admin'),
  'GET /api/v2/admin/audit': r('admin'),
  'GET /api/v2/admin/quota-defaults': r('admin'),
  'PUT /api/v2/admin/quota-defaults/:role': r('admin'),
  // extraction
  'GET /api/v2/videos/info': r('read'),
  'POST /api/v2/videos/info': r('read'),
  'GET /api/v2/videos/formats': r('read'),
  'GET /api/v2/videos/:platform/:video_id': r('read'),
  'GET /api/v2/playlists/info': r('read'),
  'GET /api/v2/playlists/:platform/:playlist_id': r('read'),
  'GET /api/v2/platforms': r('public'),
  'GET /api/v2/platforms/:platform/cookies': r('admin'),
  'PUT /api/v2/platforms/:platform/cookies': r('admin'),
  'DELETE /api/v2/platforms/:platform/cookies': r('admin'),
  // legacy (the original project's shapes)
  'GET /api/info': r('read'),
  'GET /api/formats': r('read'),
  'GET /api/platforms': r('public'),
  'GET /api/stream': r('download', true),
  'GET /api/download': r('download', true),
  // delivery
  'POST /api/v2/downloads': r('download'),
  'POST /api/v2/downloads/batch': r('download'),
  'GET /api/v2/downloads': r('read'),
  'GET /api/v2/downloads/:id': r('read'),
  'DELETE /api/v2/downloads/:id': r('download'),
  'POST /api/v2/downloads/:id/cancel': r('download'),
  'POST /api/v2/downloads/:id/retry': r('download'),
  'GET /api/v2/downloads/:id/file': r('read', true),
  'GET /api/v2/downloads/:id/thumbnail': r('read', true),
  'GET /api/v2/downloads/:id/subtitles/:lang': r('read', true),
  'GET /api/v2/downloads/:id/events': r('read', true),
  'GET /api/v2/ws': r('read', true),
  'GET /api/v2/stream/info/:platform/:video_id': r('read'),
  'GET /api/v2/stream/url': r('read'),
  'GET /api/v2/stream/direct/:platform/:video_id': r('read', true),
  'GET /api/v2/stream/embed/:platform/:video_id': r('download', true),
  'GET /api/v2/stream/proxy': r('download', true),
  'GET /api/v2/stream/proxy/:platform/:video_id': r('download', true),
};

export function policyFor(method: string, url: string): RoutePolicy | undefined {
  const m = method === 'HEAD' ? 'GET' : method;
  return ROUTE_POLICY[`${m} ${url}`];
}

const SCOPE_OF: Partial<Record<Rule, Scope>> = { read: 'read', download: 'download', admin: 'admin' };

/** Whether the caller passes `rule`: for answers that show more to some callers than to others. */
export function allows(rule: Rule, principal: Principal | null): boolean {
  try {
    authorize(rule, principal);
    return true;
  } catch {
    return false;
  }
}

/** Throws 401 (no valid credentials) or 403 (not allowed); returns when the caller may proceed. */
export function authorize(rule: Rule, principal: Principal | null): void {
  if (rule === 'public') return;
  if (!principal) throw new AppError('unauthorized', 'Sign in or send an API key');
  const { role } = principal.user;
  if (rule === 'session' && principal.via !== 'session') {
    throw new AppError('forbidden', 'This needs a signed-in session, not an API key');
  }
  if (rule === 'download' && role === 'guest') throw new AppError('forbidden', 'Guests cannot download');
  if (rule === 'admin' && role !== 'admin') throw new AppError('forbidden', 'Admins only');
  const scope = SCOPE_OF[rule];
  if (scope && !principal.scopes.includes(scope)) {
    throw new AppError('forbidden', `This API key lacks the '${scope}' scope`, { scope });
  }
}
