/**
 * BiliBili URL recognition: /video/BV… and /video/av… pages (with ?p=N
 * parts), BV↔av conversion and b23.tv short links.
 */
import { AppError } from '../../errors/app-error.js';
import type { ExtractContext, Target } from '../extractor.js';

const VIDEO_HOSTS = new Set(['bilibili.com', 'www.bilibili.com', 'm.bilibili.com']);
export const SHORT_LINK_HOSTS: readonly string[] = ['b23.tv'];

const VIDEO_PATH = /^\/video\/([^/]+)\/?$/;
const BV_RE = /^BV1[1-9A-HJ-NP-Za-km-z]{9}$/;
const AV_RE = /^av(\d+)$/i;

// The public BV algorithm (2024+ form, valid for every aid below 2^51): the aid,
// with bit 51 set and XOR-ed with a constant, written in a scrambled base 58,
// then two character pairs swapped.
const ALPHABET = 'FcwAPNKTMug3GV5Lj7EJnHpWsx4tb8haYeviqBz6rkCy12mUSDQX9RdoZf';
const XOR_CODE = 23442827791579n;
const MASK_CODE = 2251799813685247n;
const MAX_AID = 1n << 51n;
const BASE = 58n;

function swapPairs(chars: string[]): string[] {
  const out = [...chars];
  [out[3], out[9]] = [chars[9] ?? '', chars[3] ?? ''];
  [out[4], out[7]] = [chars[7] ?? '', chars[4] ?? ''];
  return out;
}

export function isBvid(id: string): boolean {
  return BV_RE.test(id);
}

export function avToBv(aid: number): string {
  if (!Number.isSafeInteger(aid) || aid <= 0 || BigInt(aid) >= MAX_AID) {
    throw new AppError('invalid_url', 'Malformed BiliBili av id', { aid });
  }
  const chars = 'BV1000000000'.split('');
  let rest = (MAX_AID | BigInt(aid)) ^ XOR_CODE;
  for (let i = chars.length - 1; rest > 0n; i--, rest /= BASE) chars[i] = ALPHABET[Number(rest % BASE)] ?? '';
  return swapPairs(chars).join('');
}

export function bvToAv(bvid: string): number {
  if (!isBvid(bvid)) throw new AppError('invalid_url', 'Malformed BiliBili BV id', { bvid });
  let n = 0n;
  for (const c of swapPairs(bvid.split('')).slice(3)) n = n * BASE + BigInt(ALPHABET.indexOf(c));
  return Number((n & MASK_CODE) ^ XOR_CODE);
}

/** BV id from the last path segment (`BV…`, `bv…` or `av…`); throws invalid_url when malformed. */
function parseVideoId(raw: string): string {
  const av = AV_RE.exec(raw);
  if (av) return avToBv(Number(av[1]));
  const bvid = /^bv/i.test(raw) ? `BV${raw.slice(2)}` : raw;
  if (!isBvid(bvid)) throw new AppError('invalid_url', 'Malformed BiliBili video id', { id: raw });
  return bvid;
}

/** `?p=N` selects a part; anything that is not a positive integer means part 1, as on the site. */
function parsePage(p: string | null): number {
  const n = p && /^\d+$/.test(p) ? Number(p) : 1;
  return n >= 1 ? n : 1;
}

export function canonicalVideoUrl(bvid: string, page = 1): string {
  return `https://www.bilibili.com/video/${bvid}${page > 1 ? `?p=${page}` : ''}`;
}

export function videoTarget(bvid: string, page = 1): Target {
  return {
    platform: 'bilibili',
    kind: 'video',
    id: bvid,
    url: canonicalVideoUrl(bvid, page),
    // Part 1 carries no hint so that `?p=1` and no `p` share one target (and cache key).
    ...(page > 1 ? { hints: { page: String(page) } } : {}),
  };
}

export function matchBilibiliUrl(url: URL): Target | null {
  if (!VIDEO_HOSTS.has(url.hostname)) return null;
  const m = VIDEO_PATH.exec(url.pathname);
  if (!m?.[1]) return null;
  return videoTarget(parseVideoId(m[1]), parsePage(url.searchParams.get('p')));
}

/** One manual hop: b23.tv answers a redirect whose Location is the full video URL. */
export async function resolveShortLink(url: URL, ctx: ExtractContext): Promise<Target> {
  const res = await ctx.http.request(url, { redirect: 'manual', signal: ctx.signal });
  await res.body?.cancel();
  const location = res.headers.get('location');
  if (!location) {
    throw new AppError('not_found', 'BiliBili short link does not redirect', {
      url: url.toString(),
      status: res.status,
    });
  }
  const target = matchBilibiliUrl(new URL(location, url));
  if (!target) throw new AppError('unsupported_url', 'BiliBili short link points to an unsupported page', { location });
  return target;
}
