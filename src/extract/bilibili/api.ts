/**
 * BiliBili API access: request headers, `code` → AppError mapping and the
 * WBI key cache. Every request goes through ctx.http.
 */
import { AppError, type ErrorCode } from '../../errors/app-error.js';
import type { ExtractContext } from '../extractor.js';
import type { ApiEnvelope, NavData } from './types.js';
import { mixinKey, signWbi, wbiKeyFromUrl, type WbiParams } from './wbi.js';

const API_BASE = 'https://api.bilibili.com';
const WBI_KEY_TTL_MS = 60 * 60 * 1000;
/** "risk control": the usual answer to a stale or wrong w_rid */
const RISK_CONTROL = -352;

const ERROR_BY_CODE: Readonly<Record<number, ErrorCode>> = {
  // The API cannot tell "deleted" from "never existed": -400 is its answer for a
  // bvid that decodes to no archive (BV1UnExisted), -404 for an unknown aid,
  // 62002 "稿件不可见" for taken-down or hidden videos and 62004 for videos under
  // review. None is proof of removal, so all are not_found rather than removed.
  [-400]: 'not_found',
  [-404]: 'not_found',
  62002: 'not_found',
  62004: 'not_found',
  // -10403 "地区限制"; -403 "权限不足" is what region-locked videos answer too.
  [-403]: 'region_blocked',
  [-10403]: 'region_blocked',
  [-101]: 'login_required',
  62012: 'private',
  // supporters-only (充电专属) videos when the caller has not paid
  87007: 'payment_required',
  87008: 'payment_required',
};

export interface ApiSession {
  ctx: ExtractContext;
  headers: Record<string, string>;
}

// Admin cookies, if any, are added by ctx.http (only to the hosts they belong to).
export async function openSession(ctx: ExtractContext): Promise<ApiSession> {
  return { ctx, headers: { Referer: 'https://www.bilibili.com/' } };
}

export function apiGet<T>(session: ApiSession, path: string, query: string): Promise<ApiEnvelope<T>> {
  return session.ctx.http.json<ApiEnvelope<T>>(`${API_BASE}${path}?${query}`, {
    headers: session.headers,
    signal: session.ctx.signal,
  });
}

/** The envelope's data, or the AppError its code stands for. */
export function apiData<T>(env: ApiEnvelope<T>, endpoint: string): T {
  if (env.code === 0 && env.data) return env.data;
  const details = { endpoint, code: env.code, message: env.message ?? null };
  const mapped = ERROR_BY_CODE[env.code];
  if (mapped) throw new AppError(mapped, env.message || `BiliBili answered code ${env.code}`, details);
  throw new AppError('upstream_error', `BiliBili ${endpoint} answered code ${env.code}`, details);
}

let wbiKey: { value: Promise<string>; expires: number } | null = null;

/** Forgets the cached mixin key (after -352, and between tests). */
export function clearWbiKeyCache(): void {
  wbiKey = null;
}

// nav answers code -101 when logged out but still carries wbi_img, so the code is not checked.
async function fetchMixinKey(session: ApiSession): Promise<string> {
  const nav = await session.ctx.http.json<ApiEnvelope<NavData>>(`${API_BASE}/x/web-interface/nav`, {
    headers: session.headers,
  });
  const img = nav.data?.wbi_img;
  if (!img?.img_url || !img.sub_url) {
    throw new AppError('upstream_error', 'BiliBili nav carried no WBI keys', { code: nav.code, message: nav.message });
  }
  return mixinKey(wbiKeyFromUrl(img.img_url), wbiKeyFromUrl(img.sub_url));
}

/** The keys rotate about daily; one shared fetch per hour, dropped again if it fails. */
export function wbiMixinKey(session: ApiSession, now: number = Date.now()): Promise<string> {
  if (!wbiKey || wbiKey.expires <= now) {
    const entry = { value: fetchMixinKey(session), expires: now + WBI_KEY_TTL_MS };
    entry.value.catch(() => {
      if (wbiKey === entry) wbiKey = null;
    });
    wbiKey = entry;
  }
  return wbiKey.value;
}

/** A WBI-signed GET; on -352 the keys are refetched and the request is sent once more. */
export async function wbiGet<T>(session: ApiSession, path: string, params: WbiParams): Promise<ApiEnvelope<T>> {
  const env = await apiGet<T>(session, path, signWbi(params, await wbiMixinKey(session)).query);
  if (env.code !== RISK_CONTROL) return env;
  clearWbiKeyCache();
  return apiGet<T>(session, path, signWbi(params, await wbiMixinKey(session)).query);
}
