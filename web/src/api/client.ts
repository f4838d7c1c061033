/**
 * The typed API client (openapi-fetch over the generated OpenAPI types).
 * Every call sends the session's access token; a token about to expire is
 * refreshed first, and a 401 is answered by one silent refresh and retry.
 */
import createClient from 'openapi-fetch';
import type { paths } from './types';
import { clearSession, getSession, latestSession, saveSession } from './session';
import { ApiError } from './errors';

/** Refresh this long before the access token runs out, so requests in flight never carry a dead one. */
const EARLY_REFRESH_MS = 30_000;

/** Without credentials handling: the refresh call itself. */
const bare = createClient<paths>({ baseUrl: window.location.origin });

let refreshing: Promise<string | null> | null = null;

/**
 * A new access token, or null when the session is gone. `stale` is the token
 * the caller found wanting: if another tab (or call) already replaced it, that
 * newer token is used instead of spending the refresh token again.
 */
export function refreshSession(stale?: string): Promise<string | null> {
  refreshing ??= withRefreshLock(async () => {
    const s = latestSession();
    if (!s) return null;
    if (s.access_token !== stale && s.expires_at - Date.now() > EARLY_REFRESH_MS) return s.access_token;
    const { data, response } = await bare.POST('/api/v2/auth/refresh', { body: { refresh_token: s.refresh_token } });
    if (data) return saveSession(data).access_token;
    // Refused (expired, revoked, reused): the session is over. Other failures (server down) keep it for later.
    if (response.status === 401 || response.status === 400) clearSession();
    return null;
  })
    .catch(() => null)
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

function withRefreshLock<T>(fn: () => Promise<T>): Promise<T> {
  // One refresh at a time across tabs: two tabs spending one refresh token would revoke the session.
  // request() resolves with what the callback's promise resolves to.
  return navigator.locks ? (navigator.locks.request('ytbh-refresh', fn) as Promise<unknown> as Promise<T>) : fn();
}

/** The access token to send now (refreshed if it is about to expire), or null when signed out. */
export async function accessToken(): Promise<string | null> {
  const s = getSession();
  if (!s) return null;
  if (s.expires_at - Date.now() > EARLY_REFRESH_MS) return s.access_token;
  return refreshSession(s.access_token);
}

async function authFetch(request: Request): Promise<Response> {
  const retry = request.clone();
  const token = await accessToken();
  if (token) request.headers.set('authorization', `Bearer ${token}`);
  const res = await fetch(request);
  if (res.status !== 401 || !token || new URL(request.url).pathname.startsWith('/api/v2/auth/')) return res;
  const fresh = await refreshSession(token);
  if (!fresh) return res;
  retry.headers.set('authorization', `Bearer ${fresh}`);
  return fetch(retry);
}

export const api = createClient<paths>({ baseUrl: window.location.origin, fetch: authFetch });

/** The data of a call, or an ApiError carrying the API's code and message (network failures too). */
export async function call<D>(pending: Promise<{ data?: D; error?: unknown; response: Response }>): Promise<D> {
  let result: { data?: D; error?: unknown; response: Response };
  try {
    result = await pending;
  } catch (err) {
    throw new ApiError(0, 'network_error', 'The server cannot be reached. Check your connection and try again.', err);
  }
  if (!result.response.ok) throw ApiError.fromBody(result.response.status, result.error);
  return result.data as D;
}

/** A same-origin API URL for elements that cannot send headers (<video>, <a download>, WebSocket). */
export async function withAccessToken(path: string): Promise<string> {
  const token = await accessToken();
  if (!token) return path;
  return `${path}${path.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(token)}`;
}
