/**
 * WBI request signing for BiliBili's `/wbi/` endpoints, as pure functions.
 * The keys come from `x/web-interface/nav` (`data.wbi_img`); fetching and
 * caching them is the API layer's job.
 */
import { createHash } from 'node:crypto';

/** Character `i` of the mixin key is `(img_key + sub_key)[MIXIN_KEY_ENC_TAB[i]]`. */
export const MIXIN_KEY_ENC_TAB: readonly number[] = [
  46, 47, 18, 2, 53, 8, 23, 32, 15, 50, 10, 31, 58, 3, 45, 35, 27, 43, 5, 49, 33, 9, 42, 19, 29, 28, 14, 39, 12, 38, 41,
  13, 37, 48, 7, 16, 24, 55, 40, 61, 26, 17, 0, 1, 60, 51, 30, 4, 22, 25, 54, 21, 56, 59, 6, 63, 57, 62, 11, 36, 20, 34,
  44, 52,
];

export type WbiParams = Record<string, string | number>;

export interface SignedQuery {
  wts: number;
  w_rid: string;
  /** the canonical query with `&w_rid=` appended, ready to put after `?` */
  query: string;
}

/** The keys are file names dressed up as image URLs: `…/bfs/wbi/<32 hex>.png` → `<32 hex>`. */
export function wbiKeyFromUrl(url: string): string {
  const file = url.slice(url.lastIndexOf('/') + 1);
  const dot = file.indexOf('.');
  return dot === -1 ? file : file.slice(0, dot);
}

export function mixinKey(imgKey: string, subKey: string): string {
  const raw = imgKey + subKey;
  return MIXIN_KEY_ENC_TAB.map((i) => raw[i] ?? '')
    .join('')
    .slice(0, 32);
}

/** Sorted by key, `!'()*` removed from values, encoded like encodeURIComponent (space → %20). */
export function canonicalQuery(params: WbiParams): string {
  return Object.keys(params)
    .sort()
    .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(String(params[k]).replace(/[!'()*]/g, ''))}`)
    .join('&');
}

export function wbiSignature(query: string, key: string): string {
  return createHash('md5')
    .update(query + key)
    .digest('hex');
}

export function currentWts(now: number = Date.now()): number {
  return Math.floor(now / 1000);
}

/** Adds `wts` to the parameters and signs the canonical query with the mixin key. */
export function signWbi(params: WbiParams, key: string, wts: number = currentWts()): SignedQuery {
  const query = canonicalQuery({ ...params, wts });
  const w_rid = wbiSignature(query, key);
  return { wts, w_rid, query: `${query}&w_rid=${w_rid}` };
}
