/**
 * TikTok URL recognition and short-link resolution. Items are addressed by
 * their numeric id; the @user part of a URL is cosmetic (TikTok serves any
 * item under `@i`), so the canonical URL (the cache key) always uses `@i`:
 * every link form of one item shares one cache entry.
 */
import { AppError } from '../../errors/app-error.js';
import type { ExtractContext, Target } from '../extractor.js';

export const SHORT_LINK_HOSTS: readonly string[] = ['vm.tiktok.com', 'vt.tiktok.com'];

const ITEM_ID = /^\d{1,25}$/;
const MAX_SHORT_LINK_HOPS = 3;

export function tiktokTarget(id: string, photo = false): Target {
  return {
    platform: 'tiktok',
    kind: 'video',
    id,
    url: pageUrl(id),
    ...(photo ? { hints: { kind: 'photo' } } : {}),
  };
}

/** The page URL the extractor fetches: `@i` works for every item, and is what the recordings used. */
export function pageUrl(id: string): string {
  return `https://www.tiktok.com/@i/video/${id}`;
}

export function matchTiktokUrl(url: URL): Target | null {
  const host = url.hostname.toLowerCase();
  if (host !== 'tiktok.com' && !host.endsWith('.tiktok.com')) return null;
  if (isShortLink(url)) return null;
  const parts = url.pathname.split('/').filter(Boolean);
  const [first, second, third] = parts;

  // /@user/video/ID and /@user/photo/ID
  if (first?.startsWith('@') && (second === 'video' || second === 'photo') && third) {
    return item(third, second === 'photo');
  }
  // m.tiktok.com/v/ID.html (old mobile share links)
  if (first === 'v' && second) return item(second.replace(/\.html$/, ''));
  // /embed/ID and /embed/v2/ID
  if (first === 'embed') return item((second === 'v2' ? third : second) ?? '');
  return null;
}

/** Short links proper, plus the www.tiktok.com/t/CODE form they sometimes redirect through. */
function isShortLink(url: URL): boolean {
  const host = url.hostname.toLowerCase();
  if (SHORT_LINK_HOSTS.includes(host)) return true;
  return (host === 'www.tiktok.com' || host === 'tiktok.com') && url.pathname.startsWith('/t/');
}

function item(id: string, photo = false): Target {
  if (!ITEM_ID.test(id)) throw new AppError('invalid_url', 'Malformed TikTok item id', { id });
  return tiktokTarget(id, photo);
}

/**
 * vm./vt.tiktok.com links answer with a redirect to the full item URL
 * (sometimes via a www.tiktok.com/t/ hop). Redirects are followed by hand so
 * only short-link URLs are ever requested and the item is recognised as soon
 * as a Location names it.
 */
export async function resolveTiktokShortLink(url: URL, ctx: ExtractContext): Promise<Target> {
  let current = url;
  for (let hop = 0; hop < MAX_SHORT_LINK_HOPS; hop++) {
    const res = await ctx.http.request(current, {
      redirect: 'manual',
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    await res.body?.cancel();
    const location = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !location) {
      const code = res.status === 404 || res.status < 300 ? 'not_found' : 'upstream_error';
      throw new AppError(code, 'TikTok short link did not redirect to an item', {
        url: current.toString(),
        status: res.status,
      });
    }
    const next = new URL(location, current);
    const target = matchTiktokUrl(next);
    if (target) return target;
    if (!isShortLink(next)) break;
    current = next;
  }
  throw new AppError('not_found', 'TikTok short link does not point to an item', { url: url.toString() });
}
