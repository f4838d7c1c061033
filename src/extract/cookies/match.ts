/**
 * Which stored cookies a request may carry (RFC 6265 §5.4): the host
 * domain-matches, the path path-matches, secure cookies only over https, and
 * nothing expired. Everything else stays home.
 */
import type { Cookie } from './netscape.js';

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

export function isExpired(c: Cookie, nowS: number): boolean {
  return c.expires !== 0 && c.expires <= nowS;
}

function domainMatches(c: Cookie, host: string): boolean {
  if (host === c.domain) return true;
  // Subdomain matching never applies to IP addresses.
  return !c.hostOnly && !IPV4.test(host) && !host.startsWith('[') && host.endsWith(`.${c.domain}`);
}

function pathMatches(cookiePath: string, requestPath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

/** The cookies to send to `url`, longest path first (the order browsers use). */
export function cookiesFor(cookies: readonly Cookie[], url: URL, nowS = Date.now() / 1000): Cookie[] {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return [];
  const host = url.hostname.toLowerCase();
  const requestPath = url.pathname || '/';
  const secureChannel = url.protocol === 'https:';
  return cookies
    .filter(
      (c) =>
        (!c.secure || secureChannel) &&
        !isExpired(c, nowS) &&
        domainMatches(c, host) &&
        pathMatches(c.path, requestPath),
    )
    .sort((a, b) => b.path.length - a.path.length);
}

/** The Cookie header value for `url`, or undefined when no cookie matches. */
export function cookieHeaderFor(cookies: readonly Cookie[], url: URL, nowS?: number): string | undefined {
  const matched = cookiesFor(cookies, url, nowS);
  return matched.length ? matched.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
}
